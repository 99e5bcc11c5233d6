"""What a customer walk through the kiosk turned up, fixed and kept fixed (Flask client): the
bills behind the amount due, what was typed stays after a mistake, a way back from every
screen, the address a request is for, kiosk-styled error screens, and paying twice on purpose."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from kiosk.models import Visit
from payments.db import business_date
from tests import factories
from tests.conftest import csrf_token


def post(client, path, **data):
    token = csrf_token(client, "/kiosk/")
    return client.post(path, data={"csrf_token": token, **data})


def choose(client, lang):
    post(client, "/kiosk/language", lang=lang, next="/kiosk/menu")


@pytest.fixture
def two_bills(sessions, office):
    """An account with a late bill (partly paid) and the current one; its scanline."""
    today = business_date()
    with sessions() as s:
        account = factories.make_account(
            s,
            number="515151",
            balance_cents=7300,
            past_due_cents=3650,
            last_payment_cents=1000,
            last_payment_date=today - dt.timedelta(days=3),
        )
        factories.make_bill(
            s,
            account,
            3650,
            open_cents=3650,
            period_start=today - dt.timedelta(days=70),
            period_end=today - dt.timedelta(days=40),
            due_date=today - dt.timedelta(days=15),
        )
        current = factories.make_bill(
            s,
            account,
            3650,
            period_start=today - dt.timedelta(days=40),
            period_end=today - dt.timedelta(days=10),
            due_date=today + dt.timedelta(days=15),
        )
        s.commit()
        return current.scanline


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_account_shows_the_current_due_date_and_each_open_bill(kiosk_client, two_bills):
    post(kiosk_client, "/kiosk/scan", code=two_bills)
    html = _text(kiosk_client.get("/kiosk/account"))
    upcoming = business_date() + dt.timedelta(days=15)
    # The due date is the newest bill's, not the late one's (that shows as past due).
    due = re.search(r"Due date</dt><dd>([^<]+)</dd>", html).group(1)
    assert due == f"{upcoming:%B} {upcoming.day}, {upcoming.year}"
    assert "Past due: $36.50" in html
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td class=\"num\">(.*?)</td></tr>", html)
    assert len(rows) == 2
    assert "(late)" in rows[0][1] and rows[0][2] == "$36.50"
    assert "(late)" not in rows[1][1] and rows[1][2] == "$36.50"
    # The last payment's date sits on its own line under the amount.
    assert re.search(r"\$10\.00<span class=\"when\">", html)


def test_account_bills_in_vietnamese(kiosk_client, two_bills):
    choose(kiosk_client, "vi")
    post(kiosk_client, "/kiosk/scan", code=two_bills)
    html = _text(kiosk_client.get("/kiosk/account"))
    assert "Kỳ hóa đơn" in html and "(quá hạn)" in html and "Từ " in html


@pytest.mark.parametrize(
    ("path", "field", "typed"),
    [
        ("/kiosk/account/amount", "amount", "2500"),
        ("/kiosk/find/address", "house", "12a"),
        ("/kiosk/status", "reference", "1234"),
    ],
)
def test_what_was_typed_stays_after_a_mistake(kiosk_client, two_bills, path, field, typed):
    post(kiosk_client, "/kiosk/scan", code=two_bills)
    response = post(kiosk_client, path, **{field: typed})
    assert response.status_code == 400
    assert f'value="{typed}"' in _text(response)


def test_street_and_email_keep_what_was_typed(kiosk_client, two_bills, sessions):
    post(kiosk_client, "/kiosk/scan", code=two_bills)
    post(kiosk_client, "/kiosk/find/address", house="12")
    response = post(kiosk_client, "/kiosk/find/street", street="BRIS<")
    assert response.status_code == 400
    assert 'value="BRIS&lt;"' in _text(response)  # escaped, never markup
    post(kiosk_client, "/kiosk/pay/due")
    response = post(kiosk_client, "/kiosk/pay/email", email="ana@gmail")
    assert response.status_code == 400 and 'value="ana@gmail"' in _text(response)


def test_street_screen_leads_back_to_the_house_number(kiosk_client):
    post(kiosk_client, "/kiosk/find/address", house="415")
    html = _text(kiosk_client.get("/kiosk/find/street"))
    assert re.search(r'<footer.*href="/kiosk/find/address"', html, re.S)


def test_service_request_names_the_address(kiosk_client, two_bills):
    choose(kiosk_client, "es")
    post(kiosk_client, "/kiosk/scan", code=two_bills)
    html = _text(kiosk_client.get("/kiosk/service/missed_pickup"))
    assert re.search(r"Para \d+ N BRISTOL ST", html)
    assert "MARIA" not in html


def test_errors_are_kiosk_screens_in_the_visitors_language(kiosk_client):
    choose(kiosk_client, "es")
    response = kiosk_client.get("/kiosk/questions/nope")
    html = _text(response)
    assert response.status_code == 404
    assert '<body class="kiosk"' in html and "Esta pantalla no está disponible." in html
    assert 'href="/kiosk/menu"' in html and 'href="/kiosk/ticket"' in html
    # An expired form (no valid token) is a kiosk screen too, and changes nothing.
    response = kiosk_client.post("/kiosk/begin", data={"lang": "vi"})
    assert response.status_code == 400
    assert "El formulario caducó." in _text(response)


def test_staff_still_get_the_staff_error_page(client, login_as):
    login_as("cashier")
    assert client.get("/kiosk/questions/nope").status_code == 403


def test_paying_again_on_purpose_is_asked_for_and_not_noted_as_a_decline(
    kiosk_client, two_bills, sessions
):
    post(kiosk_client, "/kiosk/scan", code=two_bills)
    post(kiosk_client, "/kiosk/account/amount", amount="20.00")
    html = _text(kiosk_client.get("/kiosk/pay"))
    assert "data-confirm-duplicate" not in html
    assert "was already paid on this account" in html  # the state the script shows on a 409
    with kiosk_client.session_transaction() as sess:
        first_key = sess["pay"]["key"]
    response = post(kiosk_client, "/kiosk/pay/retry", confirm_duplicate="1")
    assert response.headers["Location"].endswith("/kiosk/pay")
    html = _text(kiosk_client.get("/kiosk/pay"))
    assert 'data-confirm-duplicate="1"' in html
    with kiosk_client.session_transaction() as sess:
        assert sess["pay"]["key"] != first_key and sess["pay"]["confirm_duplicate"] is True
    with sessions() as s:
        assert s.scalar(select(Visit.outcome_code)) != "payment_declined"
    # A plain retry after that (say the card was then declined) keeps the choice.
    post(kiosk_client, "/kiosk/pay/retry")
    assert 'data-confirm-duplicate="1"' in _text(kiosk_client.get("/kiosk/pay"))
    with sessions() as s:
        assert s.scalar(select(Visit.outcome_code)) == "payment_declined"


def test_a_credit_is_shown_as_a_credit_not_a_negative_amount_due(
    kiosk_client, sessions, office, app
):
    with sessions() as s:
        factories.make_account(s, number="616161", balance_cents=-6400, past_due_cents=3650)
        s.commit()
    post(kiosk_client, "/kiosk/find/number", number="616161")
    html = _text(kiosk_client.get("/kiosk/account"))
    assert "Credit on your account" in html and "$64.00" in html
    assert "-$64.00" not in html and "Past due" not in html
    assert "You owe nothing right now." in html
    assert "You can pay ahead from" in _text(kiosk_client.get("/kiosk/account/amount"))
    app.config["PAYMENT_ALLOW_OVERPAYMENT"] = False
    html = _text(kiosk_client.get("/kiosk/account"))
    assert "/kiosk/account/amount" not in html and "/kiosk/pay/due" not in html
    response = post(kiosk_client, "/kiosk/account/amount", amount="5")
    assert response.status_code == 400 and "You owe nothing right now." in _text(response)
