"""The finance business day screen: the daily reconciliation on screen equals the report,
begin closing (audited, nothing locked), the blockers checklist, close refused while a drawer
is open and done once it is closed, reopen only with a supervisor's own credentials."""

from __future__ import annotations

import html as htmllib
import json
import re

from sqlalchemy import select

from payments import audit, days, drawer, outbox, service
from payments.db import business_date
from payments.money import format_amount
from payments.posting import CIS_TOPICS
from payments.reports import daily_report
from tests import factories
from tests.conftest import csrf_token
from tests.payments.conftest import command, make_world
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

PAGE = "/finance/day"


def _text(response) -> str:
    return htmllib.unescape(response.get_data(as_text=True))


def _post(client, path: str, **data):
    data["csrf_token"] = csrf_token(client, PAGE)
    return client.post(path, data=data)


def _events(sessions, action: str) -> list[audit.AuditEvent]:
    with sessions() as s:
        return list(s.scalars(select(audit.AuditEvent).where(audit.AuditEvent.action == action)))


def _day_with_payments_and_an_open_drawer(sessions, office):
    """Two cash payments, a check payment and a counter drawer still open."""
    with sessions() as s:
        world = make_world(s, office)
        for cents in (2_500, 1_250):
            service.create_payment(s, command(world, cents, confirm_duplicate=True))
        service.create_payment(
            s,
            command(
                world,
                4_000,
                service.TenderInput("check", 4_000, "1001", "Bank of Orange"),
                confirm_duplicate=True,
            ),
        )
        till, _, cashier = factories.open_counter_drawer(s, world.office)
        s.commit()
        return till.id, cashier.id


def deliver_cis(sessions) -> None:
    """Deliver every pending CIS posting (the CIS here is a handler that acknowledges)."""
    outbox.deliver_due(sessions, {topic: (lambda m: "ack") for topic in CIS_TOPICS}, limit=1000)


def _close_drawer(sessions, till_id: int, cashier_id: int) -> None:
    with sessions() as s:
        till = s.get(drawer.DrawerSession, till_id)
        drawer.close_drawer(
            s, till, counts={"bill_20": 5}, closed_by_id=cashier_id, actor="cashier"
        )
        s.commit()


def test_page_shows_the_reports_figures(client, login_as, sessions, office):
    _day_with_payments_and_an_open_drawer(sessions, office)
    login_as("finance")
    today = business_date()
    page = client.get(PAGE, query_string={"date": today.isoformat()})
    assert page.status_code == 200
    text = _text(page)
    with sessions() as s:
        report = daily_report(s, office.id, today)
    assert report.collected.count == 3
    net = re.search(r'id="day-net">([^<]+)<', text).group(1)
    assert net == format_amount(report.net_cents) == format_amount(7_750)
    tender_rows = re.search(r'id="by-tender">(.*?)</table>', text, re.S).group(1)
    for t in report.tenders:
        assert format_amount(t.net_cents) in tender_rows
    assert "Counter 1" in text and "Ana Cashier" in text
    for group in report.by_station + report.by_operator:
        assert group.key in text
    for link in ("/api/v1/reports/daily.pdf", "/api/v1/reports/daily.csv", "/finance/deposit"):
        assert link in text
    assert "/finance/postings" in text and "/finance/reconciliation/" in text
    assert 'id="open-exceptions"' in text
    # previous-day link, no next-day link on today
    assert 'rel="prev"' in text and 'rel="next"' not in text


def test_begin_closing_then_close_after_the_drawer_is_closed(client, login_as, sessions, office):
    till_id, cashier_id = _day_with_payments_and_an_open_drawer(sessions, office)
    fin = login_as("finance")
    today = business_date().isoformat()

    r = _post(client, PAGE + "/closing", date=today)
    assert r.status_code == 303
    text = _text(client.get(r.headers["Location"]))
    assert 'id="day-status">closing<' in text
    assert "1 cash drawer still open" in text and "Ana Cashier" in text
    [event] = _events(sessions, "day.closing")
    assert event.actor == fin.username
    assert json.loads(event.details)["blockers"][0]["code"] == "open_drawers"
    # closing locks nothing: a payment still lands in the day
    with sessions() as s:
        assert not days.is_locked(s, office.id, business_date())

    refused = _post(client, PAGE + "/close", date=today)
    assert refused.status_code == 409
    assert "The day cannot close yet" in _text(refused)
    assert _events(sessions, "day.closed") == []

    _close_drawer(sessions, till_id, cashier_id)
    page = _text(client.get(PAGE))
    assert "still open" not in page
    assert "3 CIS postings not yet delivered" in page
    assert _post(client, PAGE + "/close", date=today).status_code == 409
    deliver_cis(sessions)
    assert "Nothing: every drawer is closed" in _text(client.get(PAGE))
    done = _post(client, PAGE + "/close", date=today)
    assert done.status_code == 303
    assert 'id="day-status">closed<' in _text(client.get(done.headers["Location"]))
    assert len(_events(sessions, "day.closed")) == 1


def test_close_with_an_exception_is_audited(client, login_as, sessions, office):
    _day_with_payments_and_an_open_drawer(sessions, office)
    login_as("finance")
    r = _post(
        client, PAGE + "/close", date=business_date().isoformat(), exception="drawer key lost"
    )
    assert r.status_code == 303
    [event] = _events(sessions, "day.closed_with_exception")
    assert json.loads(event.details)["exception"] == "drawer key lost"
    assert "drawer key lost" in _text(client.get(r.headers["Location"]))


def test_reopen_needs_a_supervisors_own_credentials(client, login_as, sessions, office):
    with sessions() as s:
        sup = factories.make_staff(s, "supervisor", office_id=office.id)
        clerk = factories.make_staff(s, "cashier", office_id=office.id)
        s.commit()
        sup_name, clerk_name = sup.username, clerk.username
    login_as("finance")
    today = business_date().isoformat()
    assert _post(client, PAGE + "/close", date=today).status_code == 303
    again = _post(client, PAGE + "/closing", date=today)
    assert again.status_code == 400 and "already closed" in _text(again)

    def reopen(username, password=factories.PASSWORD, reason="count error"):
        return _post(
            client,
            PAGE + "/reopen",
            date=today,
            reason=reason,
            supervisor_username=username,
            supervisor_password=password,
        )

    missing = reopen("", "")
    assert missing.status_code == 400 and "Reopen refused" in _text(missing)
    wrong = reopen(sup_name, "not-the-password")
    assert wrong.status_code == 403 and "Reopen refused" in _text(wrong)
    not_sup = reopen(clerk_name)
    assert not_sup.status_code == 403 and "not a supervisor" in _text(not_sup)
    no_reason = reopen(sup_name, reason="")
    assert no_reason.status_code == 400 and "Say why" in _text(no_reason)
    with sessions() as s:
        assert days.is_locked(s, office.id, business_date())

    ok = reopen(sup_name)
    assert ok.status_code == 303
    text = _text(client.get(ok.headers["Location"]))
    assert 'id="day-status">reopened<' in text and "count error" in text
    assert "(supervisor: Test Supervisor)" in text
    [event] = _events(sessions, "day.reopened")
    assert json.loads(event.details)["reason"] == "count error"
    with sessions() as s:
        assert not days.is_locked(s, office.id, business_date())


def test_bad_dates_get_a_clear_message(client, login_as, sessions, office):
    login_as("finance")
    for bad in ("2026-13-01", "yesterday", "2999-01-01", "x" * 300):
        r = client.get(PAGE, query_string={"date": bad})
        assert r.status_code == 400
        text = _text(r)
        assert "business day" in text.lower() and 'role="alert"' in text
    r = _post(client, PAGE + "/close", date="2026-02-30")
    assert r.status_code == 400 and "YYYY-MM-DD" in _text(r)
    assert _events(sessions, "day.closed") == []


def test_only_finance_sees_the_day(client, login_as, office):
    login_as("cashier")
    assert client.get(PAGE).status_code in (302, 403)
