"""Counter drawer screens through the Flask client: open with a float counted by
denomination, drops with a reason, the blind close (no expected figure before the count),
over/short beyond the tolerance approved by a supervisor's typed credentials, reopen, a
payment in flight, and bad input that changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from kiosk.models import StaffUser
from payments import service
from payments.models import DrawerMovement, DrawerSession
from tests import factories
from tests.kiosk.counter_helpers import (
    audit_actions,
    client_for,
    counter_station,
    form_post,
    staff,
)
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

FLOAT = {"count-bill_20": "5", "count-bill_5": "2", "count-coin_25": "40"}  # $120.00


@pytest.fixture
def station(sessions, office):
    return counter_station(sessions, office)


@pytest.fixture
def cashier(app, sessions, office, station):
    return client_for(app, staff(sessions, office, "cashier", full_name="Rosa Diaz"), station[1])


@pytest.fixture
def boss(sessions, office):
    return staff(sessions, office, "supervisor", full_name="Ana Ruiz")


def _drawer(sessions) -> DrawerSession | None:
    with sessions() as s:
        return s.scalars(select(DrawerSession).order_by(DrawerSession.id.desc())).first()


def _count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _cash_payment(c, sessions, amount, tendered, **tender):
    with sessions() as s:
        account = factories.make_account(s, balance_cents=amount)
        s.commit()
        number = account.number
    r = c.post(
        "/api/v1/payments",
        json={
            "account_number": number,
            "amount_cents": amount,
            "tenders": [{"kind": "cash", "amount_cents": tendered, **tender}],
        },
        headers={"X-CSRFToken": c.csrf, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _open(c):
    r = form_post(c, "/counter/drawer/open", {**FLOAT, "key": uuid.uuid4().hex})
    assert r.status_code == 303, r.get_data(as_text=True)


def test_an_unpaired_browser_gets_a_clear_message(app, sessions, office):
    c = client_for(app, staff(sessions, office, "cashier"))
    page = c.get("/counter/drawer/")
    assert page.status_code == 200
    assert "not paired with a counter station" in page.get_data(as_text=True)
    r = form_post(c, "/counter/drawer/open", FLOAT)
    assert r.status_code == 400 and _drawer(sessions) is None


def test_open_with_a_float_by_denomination(cashier, sessions):
    page = cashier.get("/counter/drawer/").get_data(as_text=True)
    assert 'name="count-bill_100"' in page and 'name="count-coin_1"' in page
    assert "counter/drawer.js" in page
    for bad, message in [
        ({"count-bill_20": "5a"}, "must be a whole number"),
        ({"count-bill_20": "-2"}, "cannot be negative"),
        ({"count-bill_20": "2.5"}, "must be a whole number"),
        ({"count-bill_20": "99999"}, "cannot be more than"),
    ]:
        r = form_post(cashier, "/counter/drawer/open", bad)
        assert r.status_code == 400 and message in r.get_data(as_text=True), bad
        assert 'value="' + bad["count-bill_20"] + '"' in r.get_data(as_text=True)
    assert _drawer(sessions) is None
    key = uuid.uuid4().hex
    assert form_post(cashier, "/counter/drawer/open", {**FLOAT, "key": key}).status_code == 303
    # a double submit opens nothing more
    assert form_post(cashier, "/counter/drawer/open", {**FLOAT, "key": key}).status_code == 303
    assert _count(sessions, DrawerSession) == 1
    drawer = _drawer(sessions)
    assert drawer.float_cents == 12_000 and drawer.status == "open"
    page = cashier.get("/counter/drawer/").get_data(as_text=True)
    assert "$120.00" in page and "Close the drawer" in page


def test_drops_need_an_amount_and_a_reason(cashier, sessions):
    _open(cashier)
    for bad, message in [
        ({"kind": "drop", "amount": "abc", "reason": "safe"}, "Enter an amount"),
        ({"kind": "drop", "amount": "-5", "reason": "safe"}, "cannot be negative"),
        ({"kind": "drop", "amount": "0", "reason": "safe"}, "above 0"),
        ({"kind": "drop", "amount": "40", "reason": " "}, "Give a reason"),
        ({"kind": "steal", "amount": "40", "reason": "x"}, "kind must be"),
    ]:
        r = form_post(cashier, "/counter/drawer/movement", bad)
        assert r.status_code == 400 and message in r.get_data(as_text=True), bad
    assert _count(sessions, DrawerMovement) == 0
    r = form_post(
        cashier,
        "/counter/drawer/movement",
        {"kind": "drop", "amount": "40.00", "reason": "to the safe", "key": "k1"},
    )
    assert r.status_code == 303
    page = cashier.get("/counter/drawer/").get_data(as_text=True)
    assert "to the safe" in page and "$40.00" in page
    assert _count(sessions, DrawerMovement) == 1


def test_blind_close_over_tolerance_then_supervisor_approval(app, cashier, sessions, office, boss):
    _open(cashier)
    _cash_payment(cashier, sessions, 3_000, 5_000)  # expected: 120 + 30 = $150.00
    form_post(
        cashier, "/counter/drawer/movement", {"kind": "drop", "amount": "20", "reason": "safe"}
    )
    # expected now $130.00: never on the drawer or close pages before the count
    for url in ("/counter/drawer/", "/counter/drawer/close"):
        html = cashier.get(url).get_data(as_text=True)
        assert "$130.00" not in html and "xpected" not in html.replace("expected figure", "")
    # letters in the count: refused, still open
    r = form_post(cashier, "/counter/drawer/close", {"count-bill_20": "six", "checks_listed": "0"})
    assert r.status_code == 400 and "whole number" in r.get_data(as_text=True)
    assert _drawer(sessions).status == "open"
    r = form_post(
        cashier,
        "/counter/drawer/close",
        {"count-bill_20": "6", "checks_listed": "0", "key": uuid.uuid4().hex},
    )
    assert r.status_code == 303
    drawer = _drawer(sessions)
    assert drawer.status == "closed" and drawer.over_short_cents == -1_000
    assert drawer.approval_required and drawer.approved_by_id is None
    result = cashier.get(r.headers["Location"]).get_data(as_text=True)
    assert "Short by $10.00" in result and "$130.00" in result
    assert "Supervisor approval" in result and 'name="supervisor_password"' in result
    url = f"/counter/drawer/{drawer.id}/approve"
    # the cashier's own credentials, a wrong password: refused, audited, counted
    r = form_post(
        cashier,
        url,
        {"supervisor_username": cashier.username, "supervisor_password": factories.PASSWORD},
    )
    assert r.status_code == 403 and "is not a supervisor" in r.get_data(as_text=True)
    r = form_post(cashier, url, {"supervisor_username": boss.username, "supervisor_password": "no"})
    assert r.status_code == 403 and "Wrong" in r.get_data(as_text=True)
    with sessions() as s:
        assert s.get(StaffUser, boss.id).failed_logins == 1
    assert _drawer(sessions).approved_by_id is None
    refused = audit_actions(sessions, "override.refused")
    assert [d["reason"] for _, _, d in refused] == ["not_a_supervisor", "invalid"]
    r = form_post(
        cashier,
        url,
        {
            "supervisor_username": boss.username,
            "supervisor_password": factories.PASSWORD,
            "reason": "counted twice",
        },
    )
    assert r.status_code == 303
    assert _drawer(sessions).approved_by_id == boss.id
    approved = audit_actions(sessions, "override.approved")[-1]
    assert approved[1] == boss.username and approved[2]["cashier"] == cashier.username
    assert "approved by Ana Ruiz" in cashier.get(r.headers["Location"]).get_data(as_text=True)


def test_a_supervisor_cannot_approve_their_own_drawer(app, sessions, office, station, boss):
    c = client_for(app, boss, station[1])
    _open(c)
    form_post(c, "/counter/drawer/close", {"count-bill_1": "1", "checks_listed": "0"})
    drawer = _drawer(sessions)
    assert drawer.approval_required
    url = f"/counter/drawer/{drawer.id}/approve"
    r = form_post(c, url, {})  # blank: a supervisor may not approve themselves here
    assert r.status_code == 400
    r = form_post(
        c, url, {"supervisor_username": boss.username, "supervisor_password": factories.PASSWORD}
    )
    assert r.status_code == 403 and "Another supervisor" in r.get_data(as_text=True)
    assert _drawer(sessions).approved_by_id is None


def test_within_tolerance_needs_no_approval(cashier, sessions):
    _open(cashier)
    r = form_post(
        cashier, "/counter/drawer/close", {**FLOAT, "count-coin_1": "300", "checks_listed": "0"}
    )
    assert r.status_code == 303
    result = cashier.get(r.headers["Location"]).get_data(as_text=True)
    assert "Over by $3.00" in result and "Approve the over/short" not in result
    # the next step leads: back to the counter and sign out; reopening is secondary
    assert 'class="button primary" href="/counter/" id="back-to-counter"' in result
    assert '<button type="submit" class="primary">Sign out</button>' in result
    assert '<button type="submit">Reopen the drawer</button>' in result


def test_the_drawer_page_shows_the_offices_local_time(cashier, sessions):
    _open(cashier)
    r = form_post(
        cashier,
        "/counter/drawer/movement",
        {"kind": "drop", "amount": "40.00", "reason": "to the safe", "key": "k1"},
    )
    assert r.status_code == 303
    with sessions() as s:  # 01:34 UTC on Nov 24 is 5:34 PM on Nov 23 in Santa Ana (PST)
        drawer = s.get(DrawerSession, _drawer(sessions).id)
        drawer.opened_at = dt.datetime(2026, 11, 24, 1, 34, tzinfo=dt.UTC)
        s.scalars(select(DrawerMovement)).one().created_at = dt.datetime(
            2026, 11, 24, 2, 5, tzinfo=dt.UTC
        )
        s.commit()
    page = cashier.get("/counter/drawer/").get_data(as_text=True)
    assert "Open since 5:34 PM, business day" in page
    assert "<td>6:05 PM</td>" in page
    assert "UTC" not in page
    assert 'href="/counter/">Back to the counter</a>' in page


def test_a_payment_in_flight_blocks_the_close(cashier, sessions, office, station):
    _open(cashier)
    with sessions() as s:
        account = factories.make_account(s, balance_cents=3_000)
        service.create_payment(
            s,
            service.PaymentCommand(
                office_id=office.id,
                account_id=account.id,
                account_number=account.number,
                channel="counter",
                amount_cents=3_000,
                tenders=(service.TenderInput("card", 3_000),),
                idempotency_key="in-flight-1",
                station_id=station[0],
            ),
        )
        s.commit()
    r = form_post(cashier, "/counter/drawer/close", {**FLOAT, "checks_listed": "0"})
    assert r.status_code == 409
    assert "still in progress" in r.get_data(as_text=True)
    assert _drawer(sessions).status == "open"


def test_checks_are_listed_and_ticked(cashier, sessions):
    _open(cashier)
    with sessions() as s:
        account = factories.make_account(s, balance_cents=2_500)
        s.commit()
        number = account.number
    r = cashier.post(
        "/api/v1/payments",
        json={
            "account_number": number,
            "amount_cents": 2_500,
            "tenders": [{"kind": "check", "amount_cents": 2_500, "reference": "1042"}],
        },
        headers={"X-CSRFToken": cashier.csrf, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.get_json()
    page = cashier.get("/counter/drawer/close").get_data(as_text=True)
    assert "1042" in page and 'name="check" value="0"' in page
    r = form_post(cashier, "/counter/drawer/close", {**FLOAT, "checks_listed": "2", "check": "0"})
    assert r.status_code == 400 and "changed" in r.get_data(as_text=True)
    r = form_post(cashier, "/counter/drawer/close", {**FLOAT, "checks_listed": "1", "check": "0"})
    assert r.status_code == 303
    drawer = _drawer(sessions)
    assert (drawer.checks_counted_count, drawer.checks_counted_cents) == (1, 2_500)
    assert (drawer.checks_expected_count, drawer.checks_expected_cents) == (1, 2_500)


def test_reopen_needs_a_supervisor(cashier, sessions, boss):
    _open(cashier)
    form_post(cashier, "/counter/drawer/close", {**FLOAT, "checks_listed": "0"})
    drawer = _drawer(sessions)
    url = f"/counter/drawer/{drawer.id}/reopen"
    r = form_post(cashier, url, {"reason": "recount"})
    assert r.status_code == 400 and "supervisor" in r.get_data(as_text=True)
    r = form_post(
        cashier,
        url,
        {"supervisor_username": boss.username, "supervisor_password": factories.PASSWORD},
    )
    assert r.status_code == 400 and "reason" in r.get_data(as_text=True)
    assert _drawer(sessions).status == "closed"
    r = form_post(
        cashier,
        url,
        {
            "reason": "recount",
            "supervisor_username": boss.username,
            "supervisor_password": factories.PASSWORD,
        },
    )
    assert r.status_code == 303
    assert _drawer(sessions).status == "open"
    assert audit_actions(sessions, "drawer.reopened")


def test_a_cashier_sees_only_their_own_closed_drawers(app, cashier, sessions, office):
    _open(cashier)
    form_post(cashier, "/counter/drawer/close", {**FLOAT, "checks_listed": "0"})
    drawer_id = _drawer(sessions).id
    other = client_for(app, staff(sessions, office, "cashier"))
    r = other.get(f"/counter/drawer/{drawer_id}")
    assert r.status_code == 303 and r.headers["Location"] == "/counter/drawer/"
