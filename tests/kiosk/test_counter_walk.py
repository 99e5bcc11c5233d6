"""What a walk through the counter as a cashier turned up, through the real pages on SQLite and
PostgreSQL: the payment page offers the one correction that applies (void on the payment's
own open day, refund after) and shows change due only for cash; after a refusal the cursor
goes where the cashier must type next (the supervisor's fields, "Charge anyway") and a typed
supervisor username stays; a resent void or refund form writes nothing new; the login page
names the paired station; the stations page says what it covers."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from kiosk.auth import DEVICE_COOKIE
from payments.audit import AuditEvent
from payments.models import BusinessDay, Refund
from tests import factories
from tests.conftest import csrf_token
from tests.kiosk import test_counter_accounts as counter_accounts
from tests.kiosk.counter_helpers import audit_actions, client_for, counter_station, form_post, staff
from tests.kiosk.test_counter_accounts import open_drawer, pay_form, payments
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

# The account page's fixtures: a paired desk with a signed-in cashier, and an account.
desk = counter_accounts.desk
account = counter_accounts.account


def _audit_count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent))


def _close_day(sessions, payment):
    with sessions() as s:
        s.add(
            BusinessDay(
                office_id=payment.office_id, business_date=payment.business_date, status="closed"
            )
        )
        s.commit()


def _autofocused(html: str) -> list[str]:
    """The ids of the elements carrying autofocus."""
    return re.findall(r'<(?:input|button|select)[^>]*\bid="([^"]+)"[^>]*\bautofocus\b', html)


def test_payment_page_offers_void_on_its_day_then_refund(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    cash = pay_form(client, account["number"], amount="10", cash="20")
    check = pay_form(client, account["number"], amount="5", check="5", check_number="77")
    cash_page = client.get(cash.headers["Location"]).get_data(as_text=True)
    check_page = client.get(check.headers["Location"]).get_data(as_text=True)
    assert "/void" in cash_page and "/refund" not in cash_page
    assert 'id="change-due"' in cash_page and "$10.00" in cash_page
    assert 'id="change-due"' not in check_page  # no cash, no change to give
    _close_day(sessions, payments(sessions)[0])
    closed = client.get(cash.headers["Location"]).get_data(as_text=True)
    assert "/refund" in closed and "/void" not in closed


def test_over_limit_puts_the_cursor_in_the_supervisors_fields(app, desk, account, sessions, office):
    client, station_id, cashier = desk
    app.config["PAYMENT_COUNTER_MAX_CENTS"] = 5000
    open_drawer(sessions, office, station_id, cashier)
    html = pay_form(client, account["number"], amount="84.50", cash="100").get_data(as_text=True)
    assert _autofocused(html) == ["pay-override-username"]
    boss = staff(sessions, office, "supervisor")
    fields = {"amount": "84.50", "cash": "100", "supervisor_username": boss.username}
    wrong = pay_form(client, account["number"], **fields, supervisor_password="nope")
    html = wrong.get_data(as_text=True)
    assert f'value="{boss.username}"' in html  # typed once, kept
    assert _autofocused(html) == ["pay-override-password"]
    assert payments(sessions) == []


def test_duplicate_warning_puts_the_cursor_on_charge_anyway(desk, account, sessions, office):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    assert pay_form(client, account["number"], amount="20", cash="20").status_code == 303
    html = pay_form(client, account["number"], amount="20", cash="20").get_data(as_text=True)
    assert _autofocused(html) == ["charge-anyway"]
    assert len(payments(sessions)) == 1
    plain = client.get(f"/counter/accounts/{account['number']}").get_data(as_text=True)
    assert _autofocused(plain) == ["amount"]


def test_void_keeps_the_typed_supervisor_and_a_resent_form_writes_nothing(
    desk, account, sessions, office
):
    client, station_id, cashier = desk
    open_drawer(sessions, office, station_id, cashier)
    pay_form(client, account["number"], amount="10", cash="10")
    [payment] = payments(sessions)
    boss = staff(sessions, office, "supervisor")
    url = f"/counter/payments/{payment.id}/void"
    token = csrf_token(client, url)
    form = {"csrf_token": token, "reason": "wrong account", "supervisor_username": boss.username}
    wrong = client.post(url, data={**form, "supervisor_password": "nope"})
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and "Supervisor approval refused" in html
    assert f'value="{boss.username}"' in html and _autofocused(html) == ["void-password"]
    no_reason = client.post(url, data={**form, "reason": "", "supervisor_password": "x"})
    assert _autofocused(no_reason.get_data(as_text=True)) == ["reason"]
    good = {**form, "supervisor_password": factories.PASSWORD}
    assert client.post(url, data=good).status_code == 303
    assert payments(sessions)[0].status == "voided"
    before = _audit_count(sessions)
    again = client.post(url, data=good)  # the browser sends the form again
    assert again.status_code == 303 and again.headers["Location"] == url
    assert _audit_count(sessions) == before
    assert len(audit_actions(sessions, "override.approved")) == 1


def _check_payment(c, number: str, cents: int, key: str) -> str:
    r = c.post(
        "/api/v1/payments",
        json={
            "account_number": number,
            "amount_cents": cents,
            "tenders": [{"kind": "check", "amount_cents": cents, "reference": key}],
        },
        headers={"X-CSRFToken": c.csrf, "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_a_resent_refund_form_writes_nothing_new(app, sessions, office):
    c = client_for(app, staff(sessions, office, "cashier"))
    boss = staff(sessions, office, "supervisor")
    with sessions() as s:
        number = factories.make_account(s, balance_cents=6_000).number
        s.commit()
    pid = _check_payment(c, number, 5_000, "walk-refund-1")
    other = _check_payment(c, number, 1_000, "walk-refund-2")
    _close_day(sessions, payments(sessions)[0])
    url = f"/counter/payments/{pid}/refund"
    form = {
        "kind": "cash",
        "amount_choice": "part",
        "amount": "10",
        "reason": "overpaid",
        "refund_key": "walk-once",
        "supervisor_username": boss.username,
        "supervisor_password": factories.PASSWORD,
    }
    assert form_post(c, url, form).status_code == 303
    before = _audit_count(sessions)
    again = form_post(c, url, form)  # the browser sends the form again
    assert again.status_code == 303 and again.headers["Location"] == url
    assert "recorded already" in c.get(url).get_data(as_text=True)
    assert _audit_count(sessions) == before  # no second override.approved, nothing else
    # The same form key on another payment is refused without asking the supervisor.
    misuse = form_post(c, f"/counter/payments/{other}/refund", form)
    assert misuse.status_code == 409 and "already used" in misuse.get_data(as_text=True)
    assert _audit_count(sessions) == before
    with sessions() as s:
        assert [r.amount_cents for r in s.scalars(select(Refund))] == [1_000]


def test_login_page_names_the_paired_station(app, sessions, office):
    _, token = counter_station(sessions, office, name="Window 3")
    c = app.test_client()
    assert "This browser is the station" not in c.get("/login").get_data(as_text=True)
    c.set_cookie(DEVICE_COOKIE, token)
    page = c.get("/login").get_data(as_text=True)
    assert "This browser is the station <strong>Window 3</strong>" in page


def test_stations_page_says_unpaired_browsers_are_not_listed(app, sessions, office):
    boss = client_for(app, staff(sessions, office, "supervisor"))
    page = boss.get("/counter/stations").get_data(as_text=True)
    assert 'id="unpaired-note"' in page and "Only paired counter stations are listed" in page
