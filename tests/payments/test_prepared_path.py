"""The prepared-statement path of a cash payment (payments.prepared): it writes what the ORM
wrote, hands back objects that behave as loaded ones, sees the caller's pending changes, and
the audit head read once per transaction never goes stale (commit, rollback, SAVEPOINT)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select, text

from kiosk.models import Account, Bill
from payments import audit, outbox, service
from payments.db import utcnow
from payments.models import BusinessDay, Payment, PaymentAllocation, TenderLine
from payments.outbox import OutboxMessage
from tests.payments.conftest import command, tender


class _Statements:
    """Counts the statements SQLAlchemy sends (lazy loads, refreshes, flushes)."""

    def __init__(self, engine):
        self.count = 0
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *args):
        self.count += 1


def test_cash_payment_objects_are_loaded_and_match_their_rows(session, world, engine):
    p = service.create_payment(
        session, command(world, 7000, tender("cash", 5000), tender("check", 2000, " 77 ", "Bank"))
    ).payment
    assert p in session and p not in session.dirty and p not in session.new
    with _Statements(engine) as seen:
        columns = {c.key: getattr(p, c.key) for c in Payment.__table__.columns}
        tenders = [(t.id, t.payment_id, t.kind, t.amount_cents, t.reference) for t in p.tenders]
        allocations = [(a.id, a.bill_id, a.amount_cents) for a in p.allocations]
        assert p.refunds == []
        assert all(t.payment is p for t in p.tenders)
    assert seen.count == 0, "reading the new payment must not query"
    session.commit()

    with session.bind.connect() as conn:
        stored = conn.execute(select(Payment.__table__).where(Payment.id == p.id)).one()
        stored_tenders = conn.execute(
            select(TenderLine.__table__).where(TenderLine.payment_id == p.id)
        ).all()
        stored_allocations = conn.execute(
            select(PaymentAllocation.__table__).where(PaymentAllocation.payment_id == p.id)
        ).all()
    assert dict(stored._mapping) == columns
    assert columns["status"] == "succeeded" and columns["needs_review"] is False
    assert [(r.id, r.payment_id, r.kind, r.amount_cents, r.reference) for r in stored_tenders] == [
        (tid, p.id, kind, cents, ref) for tid, _, kind, cents, ref in tenders
    ]
    assert tenders[1][4] == "77"
    assert sorted((r.id, r.bill_id, r.amount_cents) for r in stored_allocations) == sorted(
        allocations
    )


def test_timestamps_and_dates_are_stored_as_the_orm_stores_them(session, world):
    cash = service.create_payment(session, command(world, 1000)).payment
    card = service.create_payment(session, command(world, 1001, tender("card", 1001))).payment
    session.commit()  # the card payment was written by the ORM's flush
    if session.bind.dialect.name != "sqlite":
        return  # PostgreSQL keeps typed values; nothing to compare as text
    raw = {
        row.id: row
        for row in session.execute(
            text("SELECT id, created_at, updated_at, business_date FROM payments")
        )
    }
    orm_at, prepared_at = raw[card.id].created_at, raw[cash.id].created_at
    assert len(orm_at) == len(prepared_at) == len("2026-11-24 01:02:03.456789")
    assert raw[cash.id].business_date == cash.business_date.isoformat()
    at = session.execute(text("SELECT at FROM audit_events ORDER BY seq")).scalars().all()
    assert {len(a) for a in at} == {len(orm_at)}


def test_a_later_change_to_the_new_payment_flushes_as_an_update(session, world):
    p = service.create_payment(session, command(world, 1000)).payment
    p.email = "later@example.org"
    session.commit()
    session.expire_all()
    assert session.get(Payment, p.id).email == "later@example.org"


def test_loaded_account_and_bills_show_the_new_amounts(session, world):
    account = session.get(Account, world.account.id)
    bill = session.get(Bill, world.bills[0].id)
    before, open_before = account.balance_cents, bill.open_cents
    service.create_payment(session, command(world, 1500))
    assert account.balance_cents == before - 1500
    assert bill.open_cents == open_before - 1500
    assert account.last_payment_cents == 1500


def test_pending_changes_of_the_caller_are_seen(session, world):
    """The prepared reads do not autoflush; create_payment flushes first."""
    today = service.business_date()
    session.add(BusinessDay(office_id=world.office.id, business_date=today, status="closed"))
    with pytest.raises(service.PaymentError) as refused:
        service.create_payment(session, command(world, 1000))
    assert refused.value.code == "day_closed"


def test_duplicate_guard_finds_an_unflushed_card_payment(session, world):
    first = service.create_payment(session, command(world, 2500, tender("card", 2500))).payment
    with pytest.raises(service.PaymentError) as refused:
        service.create_payment(session, command(world, 2500))
    assert refused.value.code == "duplicate_suspected"
    assert refused.value.extra["payment_id"] == first.id


def test_audit_head_survives_a_rolled_back_savepoint(session, sessions):
    audit.record(session, "a", actor="x")
    savepoint = session.begin_nested()
    audit.record(session, "b", actor="x")
    savepoint.rollback()
    audit.record(session, "c", actor="x")
    session.commit()
    audit.record(session, "d", actor="x")
    session.rollback()
    audit.record(session, "e", actor="x")
    session.commit()
    with sessions() as s:
        actions = s.scalars(select(audit.AuditEvent.action).order_by(audit.AuditEvent.seq)).all()
        assert actions == ["a", "c", "e"]
        assert audit.verify(s) == audit.ChainReport(True, 3)


def test_many_entries_in_one_transaction_chain(session, sessions):
    for i in range(5):
        audit.record(session, "step", actor="x", details={"i": i})
    session.commit()
    with sessions() as s:
        assert audit.verify(s) == audit.ChainReport(True, 5)


def test_enqueue_now_writes_the_row_enqueue_writes(session):
    payload = {"b": 1, "a": "é"}
    outbox.enqueue(session, "cis.payment", "orm", payload)
    session.flush()
    outbox.enqueue_now(session, "cis.payment", "prepared", payload)
    session.commit()
    rows = {m.key: m for m in session.scalars(select(OutboxMessage))}
    columns = [c.key for c in OutboxMessage.__table__.columns if c.key not in ("id", "key")]
    volatile = {"available_at", "created_at"}
    for name in columns:
        if name not in volatile:
            assert getattr(rows["orm"], name) == getattr(rows["prepared"], name), name
    prepared = rows["prepared"]
    assert prepared.available_at == prepared.created_at
    assert abs(prepared.created_at - utcnow()) < dt.timedelta(minutes=1)
