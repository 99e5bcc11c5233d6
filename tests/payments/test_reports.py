"""The daily report: its figures equal the sums of the underlying records, for a day with cash,
check, money order, card (kiosk), a void and a refund built through payments.service; and, as a
property, its totals equal the sum of the receipts of any generated day."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from kiosk.models import StaffUser
from kiosk.receipting import build_receipt_document
from kiosk.reports import daily_report_csv, daily_report_pdf
from kiosk.reports.sample import sample_report
from payments import reports, service
from payments.db import business_date, utcnow
from payments.models import Payment, Refund
from payments.money import parse_amount
from payments.simulated import SimulatedReader
from tests import factories
from tests.payments.conftest import command, make_world, tender
from tests.support.pdf import pdf_pages

_codes = itertools.count(1)


def _cashier(session, office, name="Ana Cashier") -> StaffUser:
    user = StaffUser(
        username=f"cash{next(_codes)}",
        full_name=name,
        password_hash="!",
        roles="cashier",
        office_id=office.id,
    )
    session.add(user)
    session.flush()
    return user


def build_day(session, world):
    """One day of every kind of event; returns (today, kiosk station, cashier)."""
    office = world.office
    counter, _ = factories.make_station(session, office, "counter", name="Counter 1")
    kiosk, _ = factories.make_station(session, office, "kiosk", name="Lobby kiosk")
    cashier = _cashier(session, office)
    session.commit()
    at_counter = {"station_id": counter.id, "staff_user_id": cashier.id, "confirm_duplicate": True}
    # yesterday's payment, refunded today
    yesterday = utcnow() - dt.timedelta(days=1)
    old = service.create_payment(session, command(world, 900, **at_counter), now=yesterday).payment
    pay = service.create_payment
    pay(session, command(world, 1250, tender("cash", 2000), **at_counter))  # change 750
    pay(session, command(world, 800, tender("check", 800, "2231"), **at_counter))
    mo = pay(session, command(world, 600, tender("money_order", 600, "MO-7"), **at_counter))
    split = pay(
        session, command(world, 1000, tender("cash", 300), tender("check", 700, "88"), **at_counter)
    )
    card = pay(
        session,
        command(
            world,
            1500,
            tender("card", 1500),
            channel="kiosk",
            station_id=kiosk.id,
            confirm_duplicate=True,
        ),
    ).payment
    reader = SimulatedReader(session)
    service.start_card(session, card, reader, reader_id="sim-1", actor="kiosk")
    service.refresh_card(session, card, reader, actor="kiosk")
    session.commit()
    assert card.status == "succeeded" and split.payment.status == "succeeded"
    service.void_payment(
        session, mo.payment, supervisor_id=world.supervisor.id, actor="sup", reason="wrong acct"
    )
    service.refund_payment(
        session,
        old,
        amount_cents=400,
        supervisor_id=world.supervisor.id,
        refund_key="refund-old",
        actor="sup",
        reason="overpaid",
    )
    session.commit()
    return business_date(), kiosk, cashier


def test_report_equals_the_sums_of_the_records(session, world):
    day, kiosk, cashier = build_day(session, world)
    report = reports.daily_report(session, world.office.id, day)
    payments = session.scalars(
        select(Payment).where(Payment.office_id == world.office.id, Payment.business_date == day)
    ).all()
    live = [p for p in payments if p.status != "voided"]
    assert report.receipted == reports.Totals(len(payments), sum(p.amount_cents for p in payments))
    assert report.voided == reports.Totals(1, 600)
    assert report.collected == reports.Totals(len(live), sum(p.amount_cents for p in live))
    assert report.collected == reports.Totals(4, 1250 + 800 + 1000 + 1500)
    refunds = session.scalars(select(Refund).where(Refund.business_date == day)).all()
    assert report.refunds == reports.Totals(len(refunds), sum(r.amount_cents for r in refunds))
    assert report.refunds == reports.Totals(1, 400)
    assert report.net_cents == 4550 - 400

    tenders = {t.kind: t for t in report.tenders}
    assert list(tenders) == ["cash", "check", "card"]  # the voided money order is gone
    assert (tenders["cash"].tendered_cents, tenders["cash"].change_cents) == (2300, 750)
    assert tenders["cash"].collected_cents == 1550
    assert tenders["cash"].refunded_cents == 400 and tenders["cash"].net_cents == 1150
    assert tenders["check"].collected_cents == 1500 and tenders["check"].count == 2
    assert tenders["card"].collected_cents == 1500
    for kind, t in tenders.items():
        lines = [x for p in live for x in p.tenders if x.kind == kind]
        change = sum(p.change_cents for p in live for x in p.tenders if x.kind == kind == "cash")
        assert t.collected_cents == sum(x.amount_cents for x in lines) - change
    assert sum(t.net_cents for t in report.tenders) == report.net_cents

    stations = {(g.key, g.kind): (g.count, g.amount_cents) for g in report.by_station}
    assert stations == {("Counter 1", "counter"): (3, 3050), ("Lobby kiosk", "kiosk"): (1, 1500)}
    operators = {(g.key, g.kind): (g.count, g.amount_cents) for g in report.by_operator}
    assert operators == {("Ana Cashier", "cashier"): (3, 3050), ("Lobby kiosk", "kiosk"): (1, 1500)}

    void, refund = report.adjustments
    assert (void.kind, void.amount_cents, void.approved_by) == ("void", 600, "Test Supervisor")
    assert void.reason == "wrong acct"
    assert (refund.kind, refund.amount_cents, refund.tender) == ("refund", 400, "cash")
    assert refund.approved_by == "Test Supervisor" and refund.reason == "overpaid"

    data = report.as_dict()
    assert data["business_date"] == day.isoformat() and data["net_cents"] == 4150
    assert isinstance(data["generated_at"], str)


def test_an_empty_day_and_another_offices_day(session, world):
    day = business_date()
    other = factories.make_office(session, code="NB", name="North office")
    session.commit()
    service.create_payment(session, command(world, 500, confirm_duplicate=True))
    session.commit()
    report = reports.daily_report(session, other.id, day)
    assert report.collected == reports.Totals(0, 0) and report.tenders == []
    assert report.office_name == "North office" and report.day_status == "open"
    assert reports.daily_report(session, world.office.id, day).collected.amount_cents == 500


_payment = st.tuples(
    st.sampled_from(["cash", "check", "money_order", "card"]),
    st.integers(min_value=1, max_value=50_000),
    st.integers(min_value=0, max_value=5_000),  # extra cash handed over (change)
    st.booleans(),  # voided
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(day=st.lists(_payment, min_size=0, max_size=6))
def test_report_totals_equal_the_sum_of_receipts(session, day):
    office = factories.make_office(session, code=f"P{next(_codes)}", name="Property office")
    world = make_world(session, office, balance=10_000_000, bills=())
    reader = SimulatedReader(session)
    for kind, amount, extra, voided in day:
        if kind == "card":
            p = service.create_payment(
                session, command(world, amount, tender("card", amount), confirm_duplicate=True)
            ).payment
            service.start_card(session, p, reader, reader_id="sim-p", actor="c")
            service.refresh_card(session, p, reader, actor="c")
        else:
            handed = amount + (extra if kind == "cash" else 0)
            ref = None if kind == "cash" else "1"
            p = service.create_payment(
                session, command(world, amount, tender(kind, handed, ref), confirm_duplicate=True)
            ).payment
        if voided:
            gateway = reader if kind == "card" else None
            service.void_payment(
                session, p, supervisor_id=world.supervisor.id, actor="s", gateway=gateway
            )
        session.commit()
    report = reports.daily_report(session, world.office.id, business_date())
    receipts = [
        build_receipt_document(session, p)
        for p in session.scalars(select(Payment).where(Payment.office_id == world.office.id))
    ]
    kept = [r for r in receipts if not r.voided]
    assert report.receipted.count == len(receipts)
    assert report.collected.amount_cents == sum(r.amount_cents for r in kept)
    assert report.voided.amount_cents == sum(r.amount_cents for r in receipts if r.voided)
    assert sum(t.collected_cents for t in report.tenders) == sum(
        r.tendered_cents - r.change_cents for r in kept
    )
    assert report.net_cents == report.collected.amount_cents + report.fees_cents


_pdf_pages_text = pdf_pages


def test_pdf_has_office_and_date_on_every_page_and_repeats_headers(tmp_path):
    report = sample_report()  # 70 voids and refunds: the last table spans pages
    pages = _pdf_pages_text(daily_report_pdf(report), tmp_path)
    assert len(pages) >= 2
    for page in pages:
        assert "Santa Ana Trash & Recycling Payment Office" in page
        assert "November 20, 2026" in page
    assert all(re.search(r"Kind\s+Receipt\s+Tender\s+Approved by", p) for p in pages[1:])
    assert "Nguyễn Thị Hương" in pages[0]  # Vietnamese through DejaVu Sans
    assert "$158,427.41" in pages[0]


def test_csv_of_a_built_day_adds_up(session, world):
    day, _, _ = build_day(session, world)
    report = reports.daily_report(session, world.office.id, day)
    rows = list(csv.DictReader(io.StringIO(daily_report_csv(report))))
    tenders = [r for r in rows if r["section"] == "tender"]
    assert sum(parse_amount(r["amount"]) for r in tenders) == 4550
    net = next(r for r in rows if r["section"] == "totals" and r["name"] == "net")
    assert parse_amount(net["amount"]) == report.net_cents
    adjustments = [r for r in rows if r["section"] in ("void", "refund")]
    assert [r["section"] for r in adjustments] == ["void", "refund"]
    assert "approved by Test Supervisor" in adjustments[0]["detail"]


def test_csv_cells_cannot_start_a_formula():
    report = sample_report()
    evil = dataclasses.replace(report.by_operator[0], key="=HYPERLINK(1)")
    text = daily_report_csv(dataclasses.replace(report, by_operator=[evil]))
    row = [r for r in csv.reader(io.StringIO(text)) if r[0] == "operator"][0]
    assert row[1] == "'=HYPERLINK(1)"
    assert ["totals", "net", "", "", "158427.41", ""] in list(csv.reader(io.StringIO(text)))
