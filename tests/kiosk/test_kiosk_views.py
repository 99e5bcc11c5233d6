"""The customer kiosk screens through the Flask test client: access, size, CSP-friendly
markup, bad input in the visitor's language, the visit wiped at the end, tickets API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from kiosk.models import QueueTicket, Visit
from payments.models import Payment
from tests import factories
from tests.conftest import csrf_token


@pytest.fixture
def bill(sessions, office):
    with sessions() as s:
        account = factories.make_account(s, number="424242", balance_cents=8450)
        b = factories.make_bill(s, account)
        s.commit()
        return b.scanline


def post(client, path, **data):
    token = csrf_token(client, "/kiosk/")
    return client.post(path, data={"csrf_token": token, **data})


def choose(client, lang):
    post(client, "/kiosk/language", lang=lang, next="/kiosk/menu")


def test_only_kiosks_reach_the_customer_flow(client, login_as):
    assert client.get("/kiosk/menu").status_code == 302  # to the login page
    login_as("cashier")
    assert client.get("/kiosk/menu").status_code == 403


def test_screens_are_small_and_have_no_inline_code(kiosk_client, bill):
    post(kiosk_client, "/kiosk/scan", code=bill)
    css = kiosk_client.get("/static/kiosk/kiosk.css").data
    js = kiosk_client.get("/static/kiosk/kiosk.js").data
    for path in [
        "/kiosk/",
        "/kiosk/menu",
        "/kiosk/account",
        "/kiosk/find/address",
        "/kiosk/find/street",
    ]:
        response = kiosk_client.get(path)
        html = response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        assert len(response.data) + len(css) + len(js) < 100 * 1024, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


def test_scan_goes_straight_to_the_account(kiosk_client, bill):
    response = post(kiosk_client, "/kiosk/scan", code=bill)
    assert response.headers["Location"].endswith("/kiosk/account")
    html = kiosk_client.get("/kiosk/account").get_data(as_text=True)
    assert "$84.50" in html and "M*** G***" in html and "MARIA" not in html


@pytest.mark.parametrize(
    ("lang", "amount", "message"),
    [
        ("es", "abc", "teclas de números"),
        ("es", "0", "mayor que cero"),
        ("vi", "2000.01", "Số tiền tối đa"),
        ("en", "12.345", "using the number keys"),
        ("en", "-5", "using the number keys"),
    ],
)
def test_bad_amounts_get_a_clear_message_and_change_nothing(
    kiosk_client, bill, sessions, lang, amount, message
):
    post(kiosk_client, "/kiosk/scan", code=bill)
    choose(kiosk_client, lang)
    response = post(kiosk_client, "/kiosk/account/amount", amount=amount)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with kiosk_client.session_transaction() as sess:
        assert "pay" not in sess
    with sessions() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0


def test_credit_only_when_settings_allow_it(kiosk_client, bill, app):
    post(kiosk_client, "/kiosk/scan", code=bill)
    app.config["PAYMENT_ALLOW_OVERPAYMENT"] = False
    response = post(kiosk_client, "/kiosk/account/amount", amount="100")
    assert response.status_code == 400
    assert "up to the amount due, $84.50" in response.get_data(as_text=True)
    app.config["PAYMENT_ALLOW_OVERPAYMENT"] = True
    assert post(kiosk_client, "/kiosk/account/amount", amount="100").status_code == 302


def test_fee_is_shown_before_paying(kiosk_client, bill, app):
    app.config["PAYMENT_CARD_FEE_CENTS"] = 150
    post(kiosk_client, "/kiosk/scan", code=bill)
    assert "A card convenience fee of $1.50" in kiosk_client.get("/kiosk/account").get_data(
        as_text=True
    )


def test_bad_scan_and_unknown_account_in_spanish(kiosk_client, bill):
    choose(kiosk_client, "es")
    bad = bill[:-1] + str((int(bill[-1]) + 1) % 10)
    response = post(kiosk_client, "/kiosk/scan", code=bad)
    assert response.headers["Location"].endswith("/kiosk/find")
    assert "No pudimos leer bien" in kiosk_client.get("/kiosk/find").get_data(as_text=True)
    response = post(kiosk_client, "/kiosk/find/number", number="99999999")
    assert response.headers["Location"].endswith("/kiosk/find/not-found")
    html = kiosk_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "No encontramos su cuenta" in html and "/kiosk/ticket" in html
    response = post(kiosk_client, "/kiosk/find/number", number="12ab")
    assert response.status_code == 400 and "de 4 a 10 dígitos" in response.get_data(as_text=True)


def test_lookups_are_rate_limited_per_kiosk(kiosk_client, bill, app):
    app.config["LOOKUP_RATE_PER_MINUTE"] = 2
    for _ in range(2):
        assert post(kiosk_client, "/kiosk/find/number", number="5555").status_code == 302
    response = post(kiosk_client, "/kiosk/find/number", number="424242")
    assert response.status_code == 400
    assert "Too many searches" in response.get_data(as_text=True)


def test_end_wipes_the_visit(kiosk_client, bill, sessions):
    choose(kiosk_client, "vi")
    post(kiosk_client, "/kiosk/scan", code=bill)
    response = post(kiosk_client, "/kiosk/end")
    assert response.headers["Location"].endswith("/kiosk/")
    with kiosk_client.session_transaction() as sess:
        assert "account" not in sess and "lang" not in sess and "visit_id" not in sess
    assert kiosk_client.get("/kiosk/account").headers["Location"].endswith("/kiosk/find")
    with sessions() as s:
        visit = s.scalar(select(Visit))
        assert visit.outcome_code == "abandoned" and visit.language == "vi"
        assert visit.reason_codes == "billing.pay_bill"


def test_someone_elses_payment_is_not_shown(kiosk_client, bill):
    post(kiosk_client, "/kiosk/scan", code=bill)
    assert kiosk_client.get("/kiosk/paid/" + "0" * 32).status_code == 404


def test_unknown_question_and_service_are_404(kiosk_client, bill):
    assert kiosk_client.get("/kiosk/questions/nope").status_code == 404
    assert kiosk_client.get("/kiosk/questions/..%2fsecret").status_code == 404
    post(kiosk_client, "/kiosk/scan", code=bill)
    assert kiosk_client.get("/kiosk/service/tree").status_code == 404


def test_ticket_api(kiosk_client, sessions):
    headers = {"X-CSRFToken": csrf_token(kiosk_client, "/kiosk/")}
    r = kiosk_client.post(
        "/api/v1/tickets", json={"service": "billing", "language": "vi"}, headers=headers
    )
    assert r.status_code == 201
    assert r.get_json()["number"] == "B001" and r.get_json()["estimated_wait_minutes"] == 0
    r = kiosk_client.post("/api/v1/tickets", json={"service": "billing"}, headers=headers)
    assert r.get_json()["number"] == "B002" and r.get_json()["estimated_wait_minutes"] == 6
    bad = kiosk_client.post("/api/v1/tickets", json={"service": "x"}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_service"
    assert kiosk_client.post("/api/v1/tickets", data="[]", headers=headers).status_code == 400
    with sessions() as s:
        assert s.scalar(select(func.count(QueueTicket.id))) == 2


@pytest.mark.parametrize(
    ("status", "lands_on", "message"),
    [
        ("canceled", "/kiosk/account", "Your card was not charged."),
        ("awaiting_card", "/kiosk/account", "could not confirm with the card reader"),
        ("succeeded", "/kiosk/paid/", None),
    ],
)
def test_cancel_tells_what_really_happened(
    kiosk_client, bill, sessions, office, status, lands_on, message
):
    from kiosk.models import Account

    post(kiosk_client, "/kiosk/scan", code=bill)
    with sessions() as s:
        account = s.scalar(select(Account).where(Account.number == "424242"))
        payment = Payment(
            office_id=office.id,
            station_id=kiosk_client.station_id,
            account_id=account.id,
            account_number=account.number,
            channel="kiosk",
            status=status,
            amount_cents=8450,
            idempotency_key="cancel-test",
            receipt_number="SA-20261123-0001" if status == "succeeded" else None,
        )
        s.add(payment)
        s.commit()
        payment_id = payment.id
    response = post(kiosk_client, "/kiosk/pay/cancel", payment_id=payment_id)
    assert lands_on in response.headers["Location"]
    if message:
        assert message in kiosk_client.get("/kiosk/account").get_data(as_text=True)
