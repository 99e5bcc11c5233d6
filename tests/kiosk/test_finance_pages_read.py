"""The finance pages as a clerk reads them: times on the office clock (audit log, card
reconciliation, deposit), readable audit details, the deposit's refusal said once with the
float fields open, counted words ("1 closed drawer"), the day page's drawers table while a
drawer is still open, tender names, and totals under the voids and the matched charges."""

from __future__ import annotations

import html as htmllib
import re

from sqlalchemy import select

from payments import audit, drawer, service
from payments.db import DATE_AND_CLOCK, business_date, office_time
from payments.deposit import Deposit
from tests import factories
from tests.conftest import csrf_token
from tests.kiosk.test_finance_recon import card_paid
from tests.payments.conftest import command, make_world
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


def _text(response) -> str:
    return htmllib.unescape(response.get_data(as_text=True))


def _drawer_day(sessions, office, *, close_counts=None):
    """A cash payment, a check payment and a void at Counter 1; the drawer (float 5 x $20)
    closed with ``close_counts`` unless None (then it stays open)."""
    with sessions() as s:
        world = make_world(s, office)
        till, station, cashier = factories.open_counter_drawer(s, world.office)
        cmd = dict(confirm_duplicate=True, station_id=station.id, staff_user_id=cashier.id)
        service.create_payment(s, command(world, 2_500, **cmd))
        service.create_payment(
            s,
            command(
                world, 4_000, service.TenderInput("check", 4_000, "1001", "Bank of Orange"), **cmd
            ),
        )
        voided = service.create_payment(s, command(world, 1_000, **cmd)).payment
        service.void_payment(
            s, voided, reason="Wrong account", actor="sup", supervisor_id=world.supervisor.id
        )
        if close_counts is not None:
            drawer.close_drawer(
                s, till, counts=close_counts, closed_by_id=cashier.id, actor=cashier.username
            )
        s.commit()


def test_audit_log_reads_on_the_office_clock_with_details_as_pairs(client, login_as, sessions):
    login_as("finance")
    with sessions.begin() as s:
        audit.record(
            s,
            "drawer.closed",
            actor="ana",
            entity="drawer",
            entity_id=7,
            details={"over_short_cents": -300, "reason": "Recount"},
        )
    with sessions() as s:
        event = s.scalars(
            select(audit.AuditEvent).where(audit.AuditEvent.action == "drawer.closed")
        ).one()
        at = event.at
    html = _text(client.get("/finance/audit"))
    assert "When (office time)" in html and "When (UTC)" not in html
    row = re.search(rf'<tr id="seq-{event.seq}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert office_time(at, "%Y-%m-%d %-I:%M:%S %p") in row
    assert f'title="{at.strftime("%Y-%m-%d %H:%M:%S")} UTC"' in row  # UTC on hover only
    assert '<span class="key">over_short_cents</span> -300' in row
    assert '<span class="key">reason</span> Recount' in row
    assert '{"over_short_cents"' not in row  # not the raw JSON


def test_card_reconciliation_last_run_on_the_office_clock(client, login_as, sessions, office):
    card_paid(sessions, office)
    login_as("finance")
    page = "/finance/reconciliation/"
    r = client.post(
        page + "run",
        data={"csrf_token": csrf_token(client, page), "date": business_date().isoformat()},
    )
    assert r.status_code == 303
    html = _text(client.get(page))
    last_run = re.search(r"Last run ([^.<]+)\.", html).group(1)
    assert "UTC" not in last_run and re.fullmatch(r"\d{4}-\d\d-\d\d \d{1,2}:\d\d [AP]M", last_run)
    total = re.search(r'<tr class="total" id="matched-total">(.*?)</tr>', html, re.S).group(1)
    assert "Total: 1 charge<" in total and "$42.00" in total


def test_day_page_while_a_drawer_is_open(client, login_as, sessions, office):
    _drawer_day(sessions, office)
    login_as("finance")
    html = _text(client.get("/finance/day"))
    drawers = re.search(r'id="drawers">(.*?)</table>', html, re.S).group(1)
    assert "not counted yet" in drawers and "Total of the closed drawers" in drawers
    tenders = re.search(r'id="by-tender">(.*?)</table>', html, re.S).group(1)
    assert "<td>Cash</td>" in tenders and "<td>Check</td>" in tenders
    voids = re.search(r'id="adjustments">(.*?)</table>', html, re.S).group(1)
    assert "<td>Void</td><td>" in voids and "<td>All</td>" in voids
    assert re.search(r'<tr class="total"><td colspan="6">Total</td><td class="num">\$10\.00', voids)
    # closing over an open drawer is the risky path: not styled as the main action
    assert 'class="danger-outline">Close the day with this exception' in html


def test_day_page_counted_drawer_totals(client, login_as, sessions, office):
    _drawer_day(sessions, office, close_counts={"bill_20": 6, "bill_5": 1})
    login_as("finance")
    drawers = re.search(r'id="drawers">(.*?)</table>', _text(client.get("/finance/day")), re.S)
    assert "Closed " in drawers.group(1) and "not counted yet" not in drawers.group(1)
    assert '<td colspan="3">Total</td>' in drawers.group(1)


def test_deposit_refusal_said_once_with_the_float_open_then_prepared(
    client, login_as, sessions, office
):
    # The count holds no $20 bill of the float: finance must say what float stays.
    _drawer_day(sessions, office, close_counts={"bill_10": 11, "bill_5": 2})
    login_as("finance")
    page = "/finance/deposit"
    day = business_date().isoformat()
    html = _text(client.get(page))
    assert '<details id="float-retained" open>' in html
    refused = client.post(
        page, data={"csrf_token": csrf_token(client, page), "date": day, "bag_number": "B-1"}
    )
    assert refused.status_code == 400
    html = _text(refused)
    assert html.count("opening floats piece for piece ($20 bills)") == 1  # not "bill_20"
    assert '<details id="float-retained" open>' in html

    done = client.post(
        page,
        data={
            "csrf_token": csrf_token(client, page),
            "date": day,
            "bag_number": "B-1",
            "float_bill_10": "10",
        },
    )
    assert done.status_code == 302, _text(done)[-800:]
    html = _text(client.get(page))
    with sessions() as s:
        prepared_at = s.scalars(select(Deposit)).one().prepared_at
    assert f"at {office_time(prepared_at, DATE_AND_CLOCK)}</dd>" in html
    assert "1 closed drawer<" in html and "drawer(s)" not in html
    assert "1 check, 0 money orders" in html
    assert '<details id="float-retained">' in html  # closed again on the fresh page
