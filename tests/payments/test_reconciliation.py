"""Card reconciliation against the in-memory ledger: one-to-one matching of card payments,
voids and refunds, fees and net from balance transactions, the day -> payout mapping across
business days (localstripe cannot make usd payouts, so payouts are tested here only), the
exception list (kept until resolved, audited, idempotent reruns, auto-resolution)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select

from payments import audit, reconciliation, service
from payments.db import OFFICE_TZ
from payments.gateway import CardStatus
from payments.models import Payment
from payments.reconciliation import (
    CardPayoutDay,
    CardSettlement,
    ExceptionKind,
    InMemoryLedger,
    LedgerBalance,
    LedgerCharge,
    LedgerPayout,
    LedgerRefund,
    ReconciliationException,
)
from payments.simulated import SimulatedReader, set_test_card
from tests.payments.conftest import command, tender

READER = "sim-lobby"
DAY = dt.date(2026, 11, 20)  # a Friday
NOON = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC)  # 12:00 in Santa Ana
SOON = NOON + dt.timedelta(days=1)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=OFFICE_TZ).astimezone(dt.UTC)


def card_paid(session, world, cents: int, when: dt.datetime = NOON) -> Payment:
    """A receipted card payment completed at ``when`` (the simulated reader's ids)."""
    set_test_card(session, READER, "approve")
    p = service.create_payment(session, command(world, cents, tender("card", cents))).payment
    reader = SimulatedReader(session)
    service.start_card(session, p, reader, reader_id=READER, actor="kiosk:1")
    result = reader.poll(p.id, p.processor_intent_id, READER)
    assert result.status == CardStatus.SUCCEEDED
    service.apply_card_result(session, p, result, actor="kiosk:1", now=when)
    session.commit()
    return p


def charge_for(p: Payment, cents: int | None = None, fee: int = 0, **kw) -> LedgerCharge:
    cents = p.tenders[0].amount_cents if cents is None else cents
    created = kw.pop("created", p.completed_at - dt.timedelta(seconds=3))
    fee = fee or reconciliation.stripe_fee(cents)
    return LedgerCharge(
        id=p.processor_charge_id,
        amount_cents=cents,
        status="succeeded",
        created=created,
        payment_intent=p.processor_intent_id,
        payment_id=kw.pop("payment_id", p.id),
        office_id=str(p.office_id),
        balance=LedgerBalance(
            "txn_" + p.id, "charge", p.processor_charge_id, cents, fee, cents - fee, created.date()
        ),
        **kw,
    )


def run(session, world, ledger, day=DAY, now=SOON, **kw):
    result = reconciliation.reconcile(session, world.office.id, day, ledger, now=now, **kw)
    session.commit()
    return result


def open_kinds(session) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(ReconciliationException)
        .where(ReconciliationException.resolved_at.is_(None))
        .order_by(ReconciliationException.kind, ReconciliationException.ref)
    )
    return [(r.kind, r.ref) for r in rows]


def test_every_card_payment_matches_its_charge_with_fees_and_net(session, world):
    a = card_paid(session, world, 4_250)
    b = card_paid(session, world, 10_000)
    cash = service.create_payment(session, command(world, 1_000)).payment  # not a card: ignored
    session.commit()
    ledger = InMemoryLedger([charge_for(a), charge_for(b)])

    result = run(session, world, ledger)

    fees = reconciliation.stripe_fee(4_250) + reconciliation.stripe_fee(10_000)
    assert (result.matched_count, result.matched_cents, result.fee_cents) == (2, 14_250, fees)
    assert result.net_cents == 14_250 - fees and result.findings == []
    rows = reconciliation.settlements_for_day(session, world.office.id, DAY)
    assert {r.payment_id for r in rows} == {a.id, b.id} and cash.id not in {
        r.payment_id for r in rows
    }
    assert sum(r.fee_cents for r in rows) == fees and all(r.payout_id is None for r in rows)
    assert open_kinds(session) == []
    section = reconciliation.card_section(session, world.office.id, DAY)
    assert (section.reconciled, section.matched_count, section.fee_cents) == (True, 2, fees)
    assert section.unpaid_count == 2 and section.payouts == []


def test_unmatched_on_either_side_become_exceptions(session, world):
    kept = card_paid(session, world, 5_000)
    lost = card_paid(session, world, 3_000)  # its charge is missing at Stripe
    wrong = card_paid(session, world, 2_000)  # Stripe charged another amount
    stray = LedgerCharge("ch_stray", 777, "succeeded", NOON, payment_intent="pi_stray")
    other_office = dataclasses.replace(stray, id="ch_other", office_id="999")
    failed = dataclasses.replace(stray, id="ch_failed", status="failed")
    ledger = InMemoryLedger(
        [charge_for(kept), charge_for(wrong, 2_100), stray, other_office, failed]
    )

    result = run(session, world, ledger)

    assert result.matched_count == 1 and result.new_exceptions == 3
    assert open_kinds(session) == [
        ("amount_mismatch", wrong.processor_charge_id),
        ("charge_without_receipt", "ch_stray"),
        ("receipt_without_charge", lost.id),
    ]
    mismatch = session.scalars(
        select(ReconciliationException).where(ReconciliationException.kind == "amount_mismatch")
    ).one()
    assert (mismatch.expected_cents, mismatch.actual_cents) == (2_000, 2_100)
    assert mismatch.payment_id == wrong.id and mismatch.found_at == SOON


def test_a_charge_naming_another_payment_is_a_mismatch(session, world):
    p = card_paid(session, world, 5_000)
    result = run(session, world, InMemoryLedger([charge_for(p, payment_id="someone-else")]))
    assert [f.kind for f in result.findings] == [ExceptionKind.AMOUNT_MISMATCH]
    assert "someone-else" in result.findings[0].detail


def test_a_second_charge_for_one_receipt_is_an_exception(session, world):
    p = card_paid(session, world, 5_000)
    twin = dataclasses.replace(charge_for(p), id="ch_twin")
    run(session, world, InMemoryLedger([charge_for(p), twin]))
    assert open_kinds(session) == [("charge_without_receipt", "ch_twin")]


def test_voids_and_refunds_match_stripe_refunds(session, world):
    voided = card_paid(session, world, 6_000)
    service.void_payment(
        session,
        voided,
        supervisor_id=world.supervisor.id,
        actor="sup",
        gateway=SimulatedReader(session),
        now=NOON + dt.timedelta(minutes=5),
    )
    unrefunded_void = card_paid(session, world, 1_500)
    service.void_payment(
        session,
        unrefunded_void,
        supervisor_id=world.supervisor.id,
        actor="sup",
        gateway=SimulatedReader(session),
        now=NOON + dt.timedelta(minutes=6),
    )
    session.commit()
    void_key = reconciliation.idempotency_key(voided.id, "void")
    ledger = InMemoryLedger(
        [charge_for(voided), charge_for(unrefunded_void)],
        [
            LedgerRefund(
                "re_void", voided.processor_charge_id, 6_000, "succeeded", NOON, refund_key=void_key
            ),
            LedgerRefund("re_nobody", "ch_elsewhere", 900, "succeeded", NOON),
        ],
    )

    result = run(session, world, ledger)

    assert result.refunds_matched == 1 and result.matched_count == 2
    assert open_kinds(session) == [
        ("record_without_refund", f"void:{unrefunded_void.id}"),
        ("refund_without_record", "re_nobody"),
    ]

    # Stripe refunded a different amount than the void: a refund mismatch instead.
    ledger.refund_list[0] = dataclasses.replace(ledger.refund_list[0], amount_cents=5_000)
    run(session, world, ledger)
    assert ("refund_mismatch", "re_void") in open_kinds(session)


def test_card_refund_after_close_matches_by_processor_refund_id(session, world):
    p = card_paid(session, world, 8_000, when=at(DAY - dt.timedelta(days=1)))
    from payments import days

    days.close_day(
        session, world.office.id, p.business_date, actor="fin", exception="test: closed early"
    )
    refund = service.refund_payment(
        session,
        p,
        amount_cents=2_000,
        supervisor_id=world.supervisor.id,
        refund_key="r-1",
        actor="sup",
        gateway=SimulatedReader(session),
        now=NOON,
    )
    session.commit()
    assert refund.business_date == DAY and refund.processor_refund_id
    ledger = InMemoryLedger(
        [charge_for(p)],
        [LedgerRefund(refund.processor_refund_id, p.processor_charge_id, 2_000, "succeeded", NOON)],
    )
    result = run(session, world, ledger)
    assert result.refunds_matched == 1 and result.findings == []
    # The day of the charge reconciles the charge; the refund belongs to the refund's day.
    earlier = run(session, world, ledger, day=p.business_date)
    assert earlier.matched_count == 1 and earlier.findings == []


def test_rerun_is_idempotent_and_vanished_exceptions_resolve_themselves(session, world):
    p = card_paid(session, world, 3_000)
    ledger = InMemoryLedger([LedgerCharge("ch_stray", 500, "succeeded", NOON)])
    first = run(session, world, ledger)
    second = run(session, world, ledger, now=SOON + dt.timedelta(hours=1))
    assert (first.new_exceptions, second.new_exceptions, second.still_open) == (2, 0, 2)
    assert session.scalar(select(func.count()).select_from(ReconciliationException)) == 2

    # The charge shows up at Stripe (it was late); the stray one is refunded away.
    ledger.charge_list = [charge_for(p)]
    third = run(session, world, ledger, now=SOON + dt.timedelta(hours=2))
    assert (third.auto_resolved, third.still_open, third.matched_count) == (2, 0, 1)
    gone = session.scalars(select(ReconciliationException)).all()
    assert all(e.resolved_by == reconciliation.SYSTEM_ACTOR for e in gone)
    assert all(e.resolution_note.startswith("No longer found") for e in gone)
    assert session.scalar(select(func.count()).select_from(CardSettlement)) == 1

    # And if it disappears again, the same exception reopens (no duplicate).
    ledger.charge_list = []
    run(session, world, ledger, now=SOON + dt.timedelta(hours=3))
    assert open_kinds(session) == [("receipt_without_charge", p.id)]
    assert session.scalar(select(func.count()).select_from(ReconciliationException)) == 2
    assert session.scalar(select(func.count()).select_from(CardSettlement)) == 0


def test_finance_resolves_an_exception_with_a_note_audited(session, world):
    ledger = InMemoryLedger([LedgerCharge("ch_stray", 500, "succeeded", NOON)])
    run(session, world, ledger)
    row = session.scalars(select(ReconciliationException)).one()

    with pytest.raises(reconciliation.ReconciliationError) as err:
        reconciliation.resolve_exception(
            session, row.id, note="  ", actor="fin", resolved_by_id=None
        )
    assert err.value.code == "note_required"
    with pytest.raises(reconciliation.ExceptionNotFound):
        reconciliation.resolve_exception(
            session, row.id, note="x", actor="fin", resolved_by_id=None, office_id=999
        )
    reconciliation.resolve_exception(
        session, row.id, note="Refunded at Stripe by hand", actor="fin", resolved_by_id=None
    )
    session.commit()
    with pytest.raises(reconciliation.AlreadyResolved):
        reconciliation.resolve_exception(session, row.id, note="x", actor="f", resolved_by_id=None)
    entry = session.scalars(
        select(audit.AuditEvent).where(
            audit.AuditEvent.action == "reconciliation.exception_resolved"
        )
    ).one()
    assert entry.actor == "fin" and entry.entity_id == str(row.id)
    assert audit.verify(session).intact

    # A rerun that still finds it leaves the finance user's resolution alone.
    result = run(session, world, ledger, now=SOON + dt.timedelta(hours=1))
    assert (result.new_exceptions, result.still_open) == (0, 0)
    assert session.get(ReconciliationException, row.id).resolved_by == "fin"
    assert reconciliation.open_exceptions(session, world.office.id) == []


def test_a_payout_carries_several_business_days(session, world):
    """localstripe cannot make usd payouts (its balance is fixed in eur): the mapping from
    business days to payouts is tested with the in-memory ledger only."""
    thursday = DAY - dt.timedelta(days=1)
    early = card_paid(session, world, 2_000, when=at(thursday))
    late = card_paid(session, world, 3_000, when=at(DAY))
    later = card_paid(session, world, 4_000, when=at(DAY, 16))
    ledger = InMemoryLedger([charge_for(early), charge_for(late), charge_for(later)])
    net = {c.id: c.balance.net_cents for c in ledger.charge_list}
    po1 = LedgerPayout(
        "po_1",
        net[early.processor_charge_id] + net[late.processor_charge_id],
        DAY + dt.timedelta(days=2),
        "paid",
        at(DAY, 18),
    )
    ledger.add_payout(po1, [early.processor_charge_id, late.processor_charge_id])
    po2 = LedgerPayout(
        "po_2",
        net[later.processor_charge_id],
        DAY + dt.timedelta(days=3),
        "in_transit",
        at(DAY + dt.timedelta(days=1)),
    )
    ledger.add_payout(po2, [later.processor_charge_id])

    run(session, world, ledger, day=thursday, now=at(DAY + dt.timedelta(days=2)))
    run(session, world, ledger, now=at(DAY + dt.timedelta(days=2)))

    lines = reconciliation.payouts_for_day(session, world.office.id, DAY)
    assert [(p.payout_id, p.days) for p in lines] == [("po_1", [thursday, DAY]), ("po_2", [DAY])]
    assert lines[0].day_net_cents == net[late.processor_charge_id]
    assert lines[0].amount_cents == po1.amount_cents
    assert [
        p.payout_id for p in reconciliation.payouts_for_day(session, world.office.id, thursday)
    ] == ["po_1"]
    settled = {
        s.payment_id: s.payout_id
        for s in reconciliation.settlements_for_day(session, world.office.id, DAY)
    }
    assert settled == {late.id: "po_1", later.id: "po_2"}
    parts = session.scalars(select(CardPayoutDay).where(CardPayoutDay.payout_id == "po_1")).all()
    assert sorted((p.business_date, p.charge_count) for p in parts) == [(thursday, 1), (DAY, 1)]
    # Rerunning rebuilds the mapping, not duplicates it.
    run(session, world, ledger, now=at(DAY + dt.timedelta(days=2)))
    assert session.scalar(select(func.count()).select_from(CardPayoutDay)) == 3


def test_a_charge_in_no_payout_after_the_grace_period_is_an_exception(session, world):
    p = card_paid(session, world, 2_500)
    ledger = InMemoryLedger([charge_for(p)])
    within = run(session, world, ledger, now=at(DAY + dt.timedelta(days=3)), grace_days=3)
    assert within.findings == []
    late = run(session, world, ledger, now=at(DAY + dt.timedelta(days=4)), grace_days=3)
    assert [(f.kind, f.ref) for f in late.findings] == [
        (ExceptionKind.PAYOUT_OVERDUE, p.processor_charge_id)
    ]
    # Once a payout carries it, the exception resolves itself.
    ledger.add_payout(
        LedgerPayout(
            "po_9", 2_000, DAY + dt.timedelta(days=6), "paid", at(DAY + dt.timedelta(days=5))
        ),
        [p.processor_charge_id],
    )
    after = run(session, world, ledger, now=at(DAY + dt.timedelta(days=6)), grace_days=3)
    assert after.auto_resolved == 1 and open_kinds(session) == []


def test_the_demo_ledger_agrees_with_the_simulated_reader(session, world):
    a = card_paid(session, world, 4_000, when=at(DAY - dt.timedelta(days=3)))
    b = card_paid(session, world, 1_000, when=at(DAY))
    ledger = reconciliation.demo_ledger(session, world.office.id, now=at(DAY, 18))
    first = run(session, world, ledger, day=a.business_date, now=at(DAY, 18))
    second = run(session, world, ledger, now=at(DAY, 18))
    assert (first.matched_count, second.matched_count) == (1, 1)
    assert first.findings == second.findings == []
    assert [
        p.days for p in reconciliation.payouts_for_day(session, world.office.id, a.business_date)
    ] == [[a.business_date]]
    assert b.business_date == DAY


def test_an_unreadable_ledger_changes_nothing(session, world):
    class Broken(InMemoryLedger):
        def charges(self, since, until):
            raise ConnectionError("no route to api.stripe.com")

    card_paid(session, world, 1_000)
    with pytest.raises(reconciliation.LedgerUnavailable) as err:
        reconciliation.reconcile(session, world.office.id, DAY, Broken(), now=SOON)
    assert err.value.status == 503 and "no route" in err.value.message
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ReconciliationException)) == 0
