"""The day's posting batch to the CIS: every payment, void and refund of an office's business
day, with control totals, sent once the day closes and acknowledged by the CIS.

Control totals (record count and sum of ``amount_cents``, by record type) use the daily
report's definitions, so they equal its figures:

    payment        payments receipted that day (voided ones included: the void reverses them)
    payment_void   those voided the same day
    refund         refunds dated that day (not failed ones)
    net            payment - payment_void - refund (count: all records)

Closing a day (``payments.days.close_day``) calls ``create_for_close``: it stores the totals
in a ``PostingBatch`` and enqueues one outbox message (``cis.posting_batch``) in the same
transaction. The records themselves are read when the message is delivered (the day is locked,
so they cannot change); the delivering adapter checks them against the stored totals. Closing
again after a reopen makes a new version and supersedes the old one.

Status: ``pending`` (in the outbox) -> ``sent`` (delivered, no acknowledgment yet) ->
``acknowledged`` (the CIS's control totals match ours) or ``rejected`` (they do not, or the CIS
refused the batch). A superseded batch is not sent.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, selectinload

from payments import audit, days, outbox
from payments.db import Base, UTCDateTime, utcnow
from payments.models import Payment, PaymentStatus, Refund
from payments.posting import (
    SCHEMA_VERSION,
    iso_utc,
    payment_record,
    refund_record,
    void_record,
)
from payments.reports import RECEIPTED

CIS_POSTING_BATCH_TOPIC = days.POSTING_BATCH_TOPIC
KINDS = ("payment", "payment_void", "refund")
MAX_ACK_TEXT = 255


class BatchStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class PostingBatch(Base):
    """One version of an office's posting batch for a business day, with its control totals
    and the CIS's acknowledgment."""

    __tablename__ = "posting_batches"
    __table_args__ = (
        UniqueConstraint(
            "office_id", "business_date", "version", name="uq_posting_batches_office_date_version"
        ),
        UniqueConstraint("reference", name="uq_posting_batches_reference"),
        CheckConstraint(
            "status IN ('pending', 'sent', 'acknowledged', 'rejected', 'superseded')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    reference: Mapped[str] = mapped_column(String(64))  # SA-2026-11-20-v1
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.PENDING.value)
    payments_count: Mapped[int] = mapped_column(Integer)
    payments_cents: Mapped[int] = mapped_column(Integer)
    voids_count: Mapped[int] = mapped_column(Integer)
    voids_cents: Mapped[int] = mapped_column(Integer)
    refunds_count: Mapped[int] = mapped_column(Integer)
    refunds_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    adapter: Mapped[str | None] = mapped_column(String(16))
    delivered_as: Mapped[str | None] = mapped_column(String(255))  # file name or URL
    ack_reference: Mapped[str | None] = mapped_column(String(255))
    ack_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ack_detail: Mapped[str | None] = mapped_column(Text)  # why rejected

    def control(self) -> dict[str, dict[str, int]]:
        return {
            "payment": {"count": self.payments_count, "amount_cents": self.payments_cents},
            "payment_void": {"count": self.voids_count, "amount_cents": self.voids_cents},
            "refund": {"count": self.refunds_count, "amount_cents": self.refunds_cents},
        }

    @property
    def record_count(self) -> int:
        return self.payments_count + self.voids_count + self.refunds_count

    @property
    def net_cents(self) -> int:
        return self.payments_cents - self.voids_cents - self.refunds_cents


class BatchError(Exception):
    """The batch cannot be built or its records no longer match its control totals."""


# -- control totals ----------------------------------------------------------------------------


def control_totals(session: Session, office_id: int, day: dt.date) -> dict[str, dict[str, int]]:
    """Count and sum by record type, as SQL aggregates (the daily report's definitions)."""
    of_day = and_(Payment.office_id == office_id, Payment.business_date == day)
    rows = session.execute(
        select(Payment.status, func.count(), func.coalesce(func.sum(Payment.amount_cents), 0))
        .where(of_day, Payment.status.in_([s.value for s in RECEIPTED]))
        .group_by(Payment.status)
    ).all()
    pay_n = sum(int(n) for _, n, _ in rows)
    pay_c = sum(int(c) for _, _, c in rows)
    void_n = sum(int(n) for s, n, _ in rows if s == PaymentStatus.VOIDED)
    void_c = sum(int(c) for s, _, c in rows if s == PaymentStatus.VOIDED)
    paid = aliased(Payment)
    ref_n, ref_c = session.execute(
        select(func.count(), func.coalesce(func.sum(Refund.amount_cents), 0))
        .join(paid, paid.id == Refund.payment_id)
        .where(Refund.business_date == day, Refund.status != "failed", paid.office_id == office_id)
    ).one()
    return {
        "payment": {"count": pay_n, "amount_cents": pay_c},
        "payment_void": {"count": void_n, "amount_cents": void_c},
        "refund": {"count": int(ref_n), "amount_cents": int(ref_c)},
    }


def totals_of(records: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Control totals counted from the records themselves."""
    out = {k: {"count": 0, "amount_cents": 0} for k in KINDS}
    for rec in records:
        slot = out[rec["record_type"]]
        slot["count"] += 1
        slot["amount_cents"] += int(rec["amount_cents"])
    return out


def control_differences(
    ours: Mapping[str, Mapping[str, int]], theirs: Mapping[str, Any]
) -> list[str]:
    """What differs between two sets of control totals, in words (empty when they match)."""
    problems = []
    for kind in KINDS:
        mine = ours.get(kind, {"count": 0, "amount_cents": 0})
        other = theirs.get(kind) if isinstance(theirs, Mapping) else None
        if not isinstance(other, Mapping):
            problems.append(f"{kind}: no control totals in the acknowledgment")
            continue
        for field in ("count", "amount_cents"):
            value = other.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or value != mine[field]:
                problems.append(f"{kind} {field}: ours {mine[field]}, CIS {value!r}")
    return problems


# -- create (on close) -------------------------------------------------------------------------


def create_for_close(
    session: Session, office_id: int, day: dt.date, *, actor: str, now: dt.datetime | None = None
) -> PostingBatch:
    """Store the day's control totals and enqueue the batch for the CIS (caller's transaction).
    An earlier version of the same day that is not yet acknowledged is superseded."""
    where = days.office(session, office_id)
    now = now or utcnow()
    totals = control_totals(session, office_id, day)
    earlier = list(
        session.scalars(
            select(PostingBatch)
            .where(PostingBatch.office_id == office_id, PostingBatch.business_date == day)
            .order_by(PostingBatch.version)
        )
    )
    for old in earlier:
        if old.status in (BatchStatus.PENDING, BatchStatus.SENT, BatchStatus.REJECTED):
            old.status = BatchStatus.SUPERSEDED.value
    version = (earlier[-1].version + 1) if earlier else 1
    batch = PostingBatch(
        office_id=office_id,
        business_date=day,
        version=version,
        reference=f"{where.code}-{day.isoformat()}-v{version}",
        status=BatchStatus.PENDING.value,
        payments_count=totals["payment"]["count"],
        payments_cents=totals["payment"]["amount_cents"],
        voids_count=totals["payment_void"]["count"],
        voids_cents=totals["payment_void"]["amount_cents"],
        refunds_count=totals["refund"]["count"],
        refunds_cents=totals["refund"]["amount_cents"],
        created_at=now,
    )
    session.add(batch)
    session.flush()
    outbox.enqueue(
        session,
        CIS_POSTING_BATCH_TOPIC,
        batch.reference,
        {
            "batch_id": batch.id,
            "reference": batch.reference,
            "office_code": where.code,
            "business_date": day.isoformat(),
            "control": totals,
        },
        office_id=office_id,
    )
    audit.record(
        session,
        "posting_batch.created",
        actor=actor,
        entity="posting_batch",
        entity_id=batch.reference,
        office_id=office_id,
        details={"business_date": day.isoformat(), "version": version, "control": totals},
    )
    return batch


# -- contents (on delivery) --------------------------------------------------------------------


def contents(session: Session, batch: PostingBatch) -> dict[str, Any]:
    """The batch as the adapters send it: ``header``, ``records`` (payments, then voids, then
    refunds, each in receipt order) and ``control``. Raises ``BatchError`` when the records
    no longer add up to the stored control totals (the day was reopened and changed)."""
    where = days.office(session, batch.office_id)
    day = batch.business_date
    payments = list(
        session.scalars(
            select(Payment)
            .where(
                Payment.office_id == batch.office_id,
                Payment.business_date == day,
                Payment.status.in_([s.value for s in RECEIPTED]),
            )
            .options(selectinload(Payment.tenders), selectinload(Payment.allocations))
            .order_by(Payment.receipt_seq, Payment.id)
        )
    )
    bills = Base.metadata.tables["bills"]
    bill_ids = {a.bill_id for p in payments for a in p.allocations if a.bill_id is not None}
    numbers = (
        dict(
            session.execute(
                select(bills.c.id, bills.c.number).where(bills.c.id.in_(bill_ids))
            ).all()
        )
        if bill_ids
        else {}
    )
    paid = aliased(Payment)
    refunds = list(
        session.scalars(
            select(Refund)
            .join(paid, paid.id == Refund.payment_id)
            .where(
                Refund.business_date == day,
                Refund.status != "failed",
                paid.office_id == batch.office_id,
            )
            .order_by(Refund.created_at, Refund.id)
        )
    )
    records = [payment_record(p, where.code, bill_numbers=numbers) for p in payments]
    records += [void_record(p, where.code) for p in payments if p.status == PaymentStatus.VOIDED]
    records += [refund_record(r, where.code) for r in refunds]
    control = batch.control()
    found = totals_of(records)
    problems = control_differences(control, found)
    if problems:
        raise BatchError(
            f"batch {batch.reference}: the records no longer match the control totals: "
            + "; ".join(problems)
        )
    return {
        "header": {
            "format": "payoffice-postings",
            "schema_version": SCHEMA_VERSION,
            "reference": batch.reference,
            "office_code": where.code,
            "business_date": day.isoformat(),
            "version": batch.version,
            "created_at": iso_utc(batch.created_at),
        },
        "records": records,
        "control": control,
        "net": {"count": batch.record_count, "amount_cents": batch.net_cents},
    }


# -- delivery and acknowledgment ---------------------------------------------------------------


def get_by_reference(session: Session, reference: str) -> PostingBatch | None:
    return session.scalars(select(PostingBatch).where(PostingBatch.reference == reference)).first()


def batches_of(session: Session, office_id: int, day: dt.date) -> list[PostingBatch]:
    return list(
        session.scalars(
            select(PostingBatch)
            .where(PostingBatch.office_id == office_id, PostingBatch.business_date == day)
            .order_by(PostingBatch.version)
        )
    )


def needing_attention(session: Session, office_id: int, limit: int = 50) -> list[PostingBatch]:
    """The office's rejected batches, newest first: finance must look at them."""
    return list(
        session.scalars(
            select(PostingBatch)
            .where(
                PostingBatch.office_id == office_id,
                PostingBatch.status == BatchStatus.REJECTED.value,
            )
            .order_by(PostingBatch.business_date.desc(), PostingBatch.id.desc())
            .limit(limit)
        )
    )


def mark_sent(
    session: Session,
    batch: PostingBatch,
    *,
    adapter: str,
    delivered_as: str,
    now: dt.datetime | None = None,
) -> None:
    if batch.status == BatchStatus.PENDING:
        batch.status = BatchStatus.SENT.value
    batch.adapter = adapter
    batch.delivered_as = delivered_as[:255]
    batch.sent_at = batch.sent_at or now or utcnow()
    session.flush()


def record_ack(
    session: Session,
    batch: PostingBatch,
    *,
    reference: str | None,
    control: object,
    accepted: bool = True,
    detail: str | None = None,
    actor: str,
    now: dt.datetime | None = None,
) -> PostingBatch:
    """Record the CIS's acknowledgment: acknowledged when it accepted the batch and its
    control totals equal ours, rejected otherwise (with what differs)."""
    if batch.status == BatchStatus.SUPERSEDED:
        return batch
    if accepted:
        problems = control_differences(
            batch.control(), control if isinstance(control, Mapping) else {}
        )
    else:
        problems = [f"the CIS rejected the batch{': ' + detail if detail else ''}"]
    batch.status = (BatchStatus.REJECTED if problems else BatchStatus.ACKNOWLEDGED).value
    batch.ack_reference = (reference or "")[:MAX_ACK_TEXT] or None
    batch.ack_at = now or utcnow()
    batch.ack_detail = "; ".join(problems)[:2000] or None
    session.flush()
    audit.record(
        session,
        f"posting_batch.{batch.status}",
        actor=actor,
        entity="posting_batch",
        entity_id=batch.reference,
        office_id=batch.office_id,
        details={
            "business_date": batch.business_date.isoformat(),
            "ack_reference": batch.ack_reference,
            "problems": problems,
        },
    )
    return batch


def as_dict(batch: PostingBatch) -> dict[str, Any]:
    return {
        "reference": batch.reference,
        "business_date": batch.business_date.isoformat(),
        "version": batch.version,
        "status": batch.status,
        "control": batch.control(),
        "net": {"count": batch.record_count, "amount_cents": batch.net_cents},
        "created_at": iso_utc(batch.created_at),
        "sent_at": iso_utc(batch.sent_at),
        "adapter": batch.adapter,
        "delivered_as": batch.delivered_as,
        "ack_reference": batch.ack_reference,
        "ack_at": iso_utc(batch.ack_at),
        "ack_detail": batch.ack_detail,
    }
