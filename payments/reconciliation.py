"""Card reconciliation: every card payment of a business day matched one-to-one to the
processor's charge, every card refund (and card void) to the processor's refund, the fees and
net from the charges' balance transactions, and the payout that carries each charge.

The processor is read through a small ``StripeLedger`` interface: ``payments.stripe_ledger``
implements it on the Stripe API, ``InMemoryLedger`` here is the deterministic stand-in for the
demo and the tests. Whatever does not match becomes a ``ReconciliationException`` that stays
open until a finance user resolves it (audited). Running again is idempotent: an exception
still found is kept (not duplicated), one no longer found is resolved automatically with a
note. Matched charges are stored as ``CardSettlement`` rows; payouts as ``CardPayout`` with
their day mapping (``CardPayoutDay``: which business days' charges a payout carries).

Kinds of exception (``ref`` names the object the finding is about):
  charge_without_receipt   a succeeded charge at the processor that no receipt accounts for
  receipt_without_charge   a receipted card payment with no succeeded charge
  amount_mismatch          charge amount differs from the card tender (or belongs to another
                           payment by its metadata)
  refund_without_record    a refund at the processor that no refund or void of ours made
  record_without_refund    our card refund or card void with no refund at the processor
  refund_mismatch          both exist, the amounts differ
  payout_overdue           a matched charge in no payout after the grace period
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    delete,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments import audit, days, review
from payments.db import Base, UTCDateTime, business_date, utcnow
from payments.gateway import idempotency_key
from payments.models import Payment, PaymentStatus, Refund, TenderKind, TenderLine
from payments.states import PaymentError

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:reconciliation"
REVIEW_ACTOR = "system:payment review"  # resolved by a review of the payment (payments.review)
MAX_NOTE = 1000
DEFAULT_GRACE_DAYS = 5
_PG_LOCK_KEY = 727007  # advisory lock class: reconciliation runs, per office
# A charge is made moments before its payment completes; a payment completed just after
# midnight has its charge on the evening before. Look this far around the day.
WINDOW_MARGIN = dt.timedelta(hours=6)
RECEIPTED = (
    PaymentStatus.SUCCEEDED.value,
    PaymentStatus.PARTIALLY_REFUNDED.value,
    PaymentStatus.REFUNDED.value,
    PaymentStatus.VOIDED.value,
)


class ExceptionKind(enum.StrEnum):
    CHARGE_WITHOUT_RECEIPT = "charge_without_receipt"
    RECEIPT_WITHOUT_CHARGE = "receipt_without_charge"
    AMOUNT_MISMATCH = "amount_mismatch"
    REFUND_WITHOUT_RECORD = "refund_without_record"
    RECORD_WITHOUT_REFUND = "record_without_refund"
    REFUND_MISMATCH = "refund_mismatch"
    PAYOUT_OVERDUE = "payout_overdue"


KIND_LABELS = {
    ExceptionKind.CHARGE_WITHOUT_RECEIPT: "Charge at Stripe with no receipt",
    ExceptionKind.RECEIPT_WITHOUT_CHARGE: "Receipt with no Stripe charge",
    ExceptionKind.AMOUNT_MISMATCH: "Charge amount differs from the receipt",
    ExceptionKind.REFUND_WITHOUT_RECORD: "Refund at Stripe with no refund or void here",
    ExceptionKind.RECORD_WITHOUT_REFUND: "Refund or void here with no Stripe refund",
    ExceptionKind.REFUND_MISMATCH: "Refund amount differs",
    ExceptionKind.PAYOUT_OVERDUE: "Charge not yet in a payout",
}


# -- records ---------------------------------------------------------------------------------


class ReconciliationException(Base):
    """Something the card reconciliation could not match; open until resolved."""

    __tablename__ = "reconciliation_exceptions"
    __table_args__ = (
        UniqueConstraint(
            "office_id", "business_date", "kind", "ref", name="reconciliation_one_per_finding"
        ),
        CheckConstraint(
            f"kind IN ({', '.join(repr(k.value) for k in ExceptionKind)})", name="kind_known"
        ),
        Index("ix_reconciliation_exceptions_open", "office_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64))  # the charge, refund or payment id
    payment_id: Mapped[str | None] = mapped_column(String(32))
    charge_id: Mapped[str | None] = mapped_column(String(64))
    refund_id: Mapped[str | None] = mapped_column(String(64))
    expected_cents: Mapped[int | None] = mapped_column(Integer)  # what our records say
    actual_cents: Mapped[int | None] = mapped_column(Integer)  # what the processor says
    detail: Mapped[str] = mapped_column(Text, default="")
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolution_note: Mapped[str | None] = mapped_column(Text)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def label(self) -> str:
        return KIND_LABELS.get(ExceptionKind(self.kind), self.kind)


class CardSettlement(Base):
    """A card payment matched to its charge: fee, net and the payout that carries it."""

    __tablename__ = "card_settlements"
    __table_args__ = (
        UniqueConstraint("charge_id", name="card_settlement_per_charge"),
        Index("ix_card_settlements_office_day", "office_id", "business_date"),
        Index("ix_card_settlements_payout", "payout_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    receipt_number: Mapped[str | None] = mapped_column(String(32))
    intent_id: Mapped[str | None] = mapped_column(String(64))
    charge_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    net_cents: Mapped[int] = mapped_column(Integer)
    balance_transaction_id: Mapped[str | None] = mapped_column(String(64))
    available_on: Mapped[dt.date | None] = mapped_column(Date)
    payout_id: Mapped[str | None] = mapped_column(String(64))
    reconciled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CardPayout(Base):
    """A payout from the processor to the bank, as last seen."""

    __tablename__ = "card_payouts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    arrival_date: Mapped[dt.date] = mapped_column(Date)
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CardPayoutDay(Base):
    """The part of a payout made of one office's business day (charges less refunds)."""

    __tablename__ = "card_payout_days"
    __table_args__ = (Index("ix_card_payout_days_office_day", "office_id", "business_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[str] = mapped_column(
        ForeignKey("card_payouts.id", ondelete="CASCADE"), index=True
    )
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))  # None: not ours
    business_date: Mapped[dt.date] = mapped_column(Date)
    charge_count: Mapped[int] = mapped_column(Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    net_cents: Mapped[int] = mapped_column(Integer, default=0)


# -- the processor's side --------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerBalance:
    """A balance transaction: what a charge (or refund) did to the balance."""

    id: str
    type: str  # charge | refund | payout | adjustment ...
    source: str | None  # the charge or refund id
    amount_cents: int
    fee_cents: int
    net_cents: int
    available_on: dt.date | None
    created: dt.datetime | None = None


@dataclass(frozen=True)
class LedgerCharge:
    id: str
    amount_cents: int
    status: str  # succeeded | pending | failed
    created: dt.datetime
    payment_intent: str | None = None
    payment_id: str | None = None  # our payment id from the metadata
    office_id: str | None = None  # our office id from the metadata
    amount_refunded_cents: int = 0
    currency: str = "usd"
    balance: LedgerBalance | None = None


@dataclass(frozen=True)
class LedgerRefund:
    id: str
    charge_id: str | None
    amount_cents: int
    status: str  # succeeded | pending | failed | canceled
    created: dt.datetime
    payment_intent: str | None = None
    refund_key: str | None = None  # metadata refund_id: the key we refunded under
    payment_id: str | None = None


@dataclass(frozen=True)
class LedgerPayout:
    id: str
    amount_cents: int
    arrival_date: dt.date
    status: str  # pending | in_transit | paid | failed | canceled
    created: dt.datetime
    currency: str = "usd"


class StripeLedger(Protocol):
    """Read-only view of the processor's books for a time range ``[since, until)``."""

    def charges(self, since: dt.datetime, until: dt.datetime) -> list[LedgerCharge]:
        """Charges created in the range, each with its balance transaction."""

    def refunds(self, since: dt.datetime, until: dt.datetime) -> list[LedgerRefund]:
        """Refunds created in the range."""

    def payouts(self, since: dt.datetime, until: dt.datetime) -> list[LedgerPayout]:
        """Payouts created in the range."""

    def payout_transactions(self, payout_id: str) -> list[LedgerBalance]:
        """The balance transactions a payout carries to the bank."""


@dataclass
class InMemoryLedger:
    """A deterministic ledger held in memory (demo and tests)."""

    charge_list: list[LedgerCharge] = field(default_factory=list)
    refund_list: list[LedgerRefund] = field(default_factory=list)
    payout_list: list[LedgerPayout] = field(default_factory=list)
    payout_members: dict[str, list[LedgerBalance]] = field(default_factory=dict)

    def charges(self, since, until):
        return [c for c in self.charge_list if since <= c.created < until]

    def refunds(self, since, until):
        return [r for r in self.refund_list if since <= r.created < until]

    def payouts(self, since, until):
        return [p for p in self.payout_list if since <= p.created < until]

    def payout_transactions(self, payout_id):
        return list(self.payout_members.get(payout_id, []))

    def add_payout(self, payout: LedgerPayout, charge_ids: list[str]) -> None:
        """Put a payout on the books carrying the balance transactions of ``charge_ids``."""
        by_id = {c.id: c for c in self.charge_list}
        members = []
        for cid in charge_ids:
            bt = by_id[cid].balance
            if bt is None:
                raise ValueError(f"charge {cid} has no balance transaction")
            members.append(bt)
        self.payout_list.append(payout)
        self.payout_members[payout.id] = members


def stripe_fee(amount_cents: int) -> int:
    """Stripe's US card-present price (2.7% + 5 cents), rounded half up: the demo's fees."""
    return (amount_cents * 27 + 500) // 1000 + 5


def demo_ledger(session: Session, office_id: int, *, now: dt.datetime | None = None):
    """A ledger that agrees with the office's simulated-reader card payments: one charge per
    receipted card payment, refunds for card voids and card refunds, deterministic fees, and
    a payout each business day (after two days) carrying everything available by then."""
    now = now or utcnow()
    ledger = InMemoryLedger()
    rows = session.execute(
        select(Payment, TenderLine.amount_cents)
        .join(TenderLine, TenderLine.payment_id == Payment.id)
        .where(
            Payment.office_id == office_id,
            Payment.status.in_(RECEIPTED),
            TenderLine.kind == TenderKind.CARD.value,
        )
        .order_by(Payment.completed_at)
    ).all()
    available: dict[dt.date, list[str]] = defaultdict(list)
    for payment, cents in rows:
        created = payment.completed_at or payment.created_at
        charge_id = payment.processor_charge_id or f"sim_ch_{payment.id}"
        fee = stripe_fee(cents)
        on = created.date() + dt.timedelta(days=2)
        ledger.charge_list.append(
            LedgerCharge(
                id=charge_id,
                amount_cents=cents,
                status="succeeded",
                created=created,
                payment_intent=payment.processor_intent_id,
                payment_id=payment.id,
                office_id=str(office_id),
                balance=LedgerBalance(
                    "txn_" + _short(charge_id), "charge", charge_id, cents, fee, cents - fee, on
                ),
            )
        )
        available[on].append(charge_id)
        if payment.status == PaymentStatus.VOIDED.value:
            ledger.refund_list.append(
                LedgerRefund(
                    "sim_re_" + _short(charge_id),
                    charge_id,
                    cents,
                    "succeeded",
                    payment.voided_at or created,
                    refund_key=idempotency_key(payment.id, "void"),
                )
            )
        for refund in payment.refunds:
            if refund.kind == TenderKind.CARD.value and refund.status != "failed":
                ledger.refund_list.append(
                    LedgerRefund(
                        refund.processor_refund_id or "sim_re_" + _short(refund.id),
                        charge_id,
                        refund.amount_cents,
                        "succeeded",
                        refund.created_at,
                    )
                )
    for on in sorted(available):
        created = dt.datetime.combine(on, dt.time(2), tzinfo=dt.UTC)
        if created > now:
            continue
        ids = available[on]
        total = sum(c.balance.net_cents for c in ledger.charge_list if c.id in set(ids))
        payout = LedgerPayout(
            "sim_po_" + on.strftime("%Y%m%d"), total, on + dt.timedelta(days=1), "paid", created
        )
        ledger.add_payout(payout, ids)
    return ledger


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


# -- errors ----------------------------------------------------------------------------------


class ReconciliationError(PaymentError):
    status = 400


class ExceptionNotFound(ReconciliationError):
    status = 404


class AlreadyResolved(ReconciliationError):
    status = 409


class LedgerUnavailable(PaymentError):
    status = 503


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: ExceptionKind
    ref: str
    payment_id: str | None = None
    charge_id: str | None = None
    refund_id: str | None = None
    expected_cents: int | None = None
    actual_cents: int | None = None
    detail: str = ""
    explained: str | None = None  # already accounted for elsewhere: stored resolved, with this


@dataclass(frozen=True)
class RunResult:
    office_id: int
    business_date: dt.date
    matched_count: int
    matched_cents: int
    fee_cents: int
    net_cents: int
    refunds_matched: int
    new_exceptions: int
    still_open: int
    auto_resolved: int
    findings: list[Finding]

    def as_dict(self) -> dict:
        return {
            "office_id": self.office_id,
            "business_date": self.business_date.isoformat(),
            "matched_count": self.matched_count,
            "matched_cents": self.matched_cents,
            "fee_cents": self.fee_cents,
            "net_cents": self.net_cents,
            "refunds_matched": self.refunds_matched,
            "new_exceptions": self.new_exceptions,
            "still_open": self.still_open,
            "auto_resolved": self.auto_resolved,
        }


@dataclass
class _Card:
    payment: Payment
    tender_cents: int


def _card_payments(session: Session, office_id: int, day: dt.date) -> list[_Card]:
    rows = session.execute(
        select(Payment, TenderLine.amount_cents)
        .join(TenderLine, TenderLine.payment_id == Payment.id)
        .where(
            Payment.office_id == office_id,
            Payment.business_date == day,
            Payment.status.in_(RECEIPTED),
            TenderLine.kind == TenderKind.CARD.value,
        )
        .order_by(Payment.receipt_seq)
    ).all()
    return [_Card(p, int(c)) for p, c in rows]


def _owner(session: Session, charge: LedgerCharge) -> Payment | None:
    """The payment of ours (any day, any status) this charge belongs to, if any."""
    terms = [Payment.processor_charge_id == charge.id]
    if charge.payment_intent:
        terms.append(Payment.processor_intent_id == charge.payment_intent)
    if charge.payment_id:
        terms.append(Payment.id == charge.payment_id)
    return session.scalars(select(Payment).where(or_(*terms)).limit(1)).first()


def _match_charge(card: _Card, by_id, by_intent, by_payment) -> LedgerCharge | None:
    p = card.payment
    candidates = [
        by_id.get(p.processor_charge_id) if p.processor_charge_id else None,
        by_intent.get(p.processor_intent_id) if p.processor_intent_id else None,
        by_payment.get(p.id),
    ]
    return next((c for c in candidates if c is not None), None)


def reconcile(
    session: Session,
    office_id: int,
    day: dt.date,
    ledger: StripeLedger,
    *,
    actor: str = SYSTEM_ACTOR,
    grace_days: int = DEFAULT_GRACE_DAYS,
    now: dt.datetime | None = None,
) -> RunResult:
    """Match the office's card payments and refunds of ``day`` to the processor's books, store
    the settlements and payout mapping, and bring the exception list up to date. Works in the
    caller's transaction; the ledger is read before anything is written."""
    now = now or utcnow()
    where = days.office(session, office_id)
    _serialize(session, office_id)
    start, end = days.day_bounds(day, where.tz)
    since, until = start - WINDOW_MARGIN, end + WINDOW_MARGIN
    try:
        charges = [c for c in ledger.charges(since, until) if c.status == "succeeded"]
        stripe_refunds = [
            r for r in ledger.refunds(since, now + WINDOW_MARGIN) if r.status != "failed"
        ]
        # Payouts go out days after the charges: look from the day's start to the end of the
        # grace period (or now).
        last = min(now, end + dt.timedelta(days=grace_days + 7)) + WINDOW_MARGIN
        payouts = ledger.payouts(start, last)
        members = {p.id: ledger.payout_transactions(p.id) for p in payouts}
    except PaymentError:
        raise
    except Exception as exc:  # the ledger is outside: any failure means "try later"
        log.warning("reconciliation of %s %s: ledger unavailable: %s", office_id, day, exc)
        raise LedgerUnavailable(
            "ledger_unavailable", f"The card processor could not be read: {exc}"
        ) from exc

    findings: list[Finding] = []
    by_id = {c.id: c for c in charges}
    by_intent = {c.payment_intent: c for c in charges if c.payment_intent}
    by_payment: dict[str, LedgerCharge] = {}
    for c in charges:
        if c.payment_id:
            by_payment.setdefault(c.payment_id, c)
    payout_of: dict[str, LedgerPayout] = {}
    for p in payouts:
        for bt in members[p.id]:
            if bt.source and bt.type != "payout":
                payout_of[bt.source] = p

    cards = _card_payments(session, office_id, day)
    used: set[str] = set()
    settled: list[tuple[_Card, LedgerCharge]] = []
    for card in cards:
        p = card.payment
        charge = _match_charge(card, by_id, by_intent, by_payment)
        if charge is None or charge.id in used:
            findings.append(
                Finding(
                    ExceptionKind.RECEIPT_WITHOUT_CHARGE,
                    p.id,
                    payment_id=p.id,
                    charge_id=p.processor_charge_id,
                    expected_cents=card.tender_cents,
                    detail=f"receipt {p.receipt_number}: no succeeded charge found at Stripe",
                )
            )
            continue
        used.add(charge.id)
        if charge.amount_cents != card.tender_cents or (
            charge.payment_id and charge.payment_id != p.id
        ):
            other = (
                f"; its metadata names payment {charge.payment_id}"
                if charge.payment_id and charge.payment_id != p.id
                else ""
            )
            findings.append(
                Finding(
                    ExceptionKind.AMOUNT_MISMATCH,
                    charge.id,
                    payment_id=p.id,
                    charge_id=charge.id,
                    expected_cents=card.tender_cents,
                    actual_cents=charge.amount_cents,
                    detail=f"receipt {p.receipt_number}{other}",
                )
            )
            continue
        settled.append((card, charge))

    # Charges that no receipt of this day took: ours from another day, or nobody's.
    for charge in charges:
        if charge.id in used or business_date(charge.created, where.tz) != day:
            continue
        if charge.office_id and charge.office_id != str(office_id):
            continue
        owner = _owner(session, charge)
        if owner is not None and owner.office_id != office_id:
            continue
        if owner is not None and owner.status in RECEIPTED:
            if owner.business_date != day:
                continue  # reconciled with its own business day
            what = f"a second charge for receipt {owner.receipt_number}"
        elif owner is not None:
            what = f"payment {owner.id} is {owner.status}"
        else:
            what = "no payment of ours names it"
        explained = None
        if (
            owner is not None
            and charge.payment_intent in review.refunded_charges(session, owner.id)
            and charge.amount_refunded_cents >= charge.amount_cents
        ):
            explained = f"Refunded in full by the review of payment {owner.id}."
        findings.append(
            Finding(
                ExceptionKind.CHARGE_WITHOUT_RECEIPT,
                charge.id,
                payment_id=owner.id if owner is not None else charge.payment_id,
                charge_id=charge.id,
                actual_cents=charge.amount_cents,
                detail=what,
                explained=explained,
            )
        )

    refunds_matched, refund_findings = _match_refunds(
        session, office_id, day, where.tz, cards, stripe_refunds, by_id
    )
    findings += refund_findings

    # Settlements: one row per matched charge (replaced on a rerun).
    today = business_date(now, where.tz)
    session.execute(
        delete(CardSettlement).where(
            CardSettlement.office_id == office_id, CardSettlement.business_date == day
        )
    )
    charge_ids = [charge.id for _, charge in settled]
    if charge_ids:  # a charge settled under another day before (a late completion) moves here
        session.execute(delete(CardSettlement).where(CardSettlement.charge_id.in_(charge_ids)))
    session.flush()
    matched_cents = fee_cents = net_cents = 0
    for card, charge in settled:
        bt = charge.balance
        fee = bt.fee_cents if bt else 0
        net = bt.net_cents if bt else charge.amount_cents
        payout = payout_of.get(charge.id)
        session.add(
            CardSettlement(
                office_id=office_id,
                business_date=day,
                payment_id=card.payment.id,
                receipt_number=card.payment.receipt_number,
                intent_id=charge.payment_intent,
                charge_id=charge.id,
                amount_cents=charge.amount_cents,
                refunded_cents=charge.amount_refunded_cents,
                fee_cents=fee,
                net_cents=net,
                balance_transaction_id=bt.id if bt else None,
                available_on=bt.available_on if bt else None,
                payout_id=payout.id if payout else None,
                reconciled_at=now,
            )
        )
        matched_cents += charge.amount_cents
        fee_cents += fee
        net_cents += net
        if payout is None and (today - day).days > grace_days:
            findings.append(
                Finding(
                    ExceptionKind.PAYOUT_OVERDUE,
                    charge.id,
                    payment_id=card.payment.id,
                    charge_id=charge.id,
                    expected_cents=net,
                    detail=f"no payout carries it {(today - day).days} days later "
                    f"(grace {grace_days})",
                )
            )

    _store_payouts(session, office_id, where.tz, payouts, members, now)
    new, still, gone = _sync_exceptions(session, office_id, day, findings, now)
    audit.record(
        session,
        "reconciliation.run",
        actor=actor,
        entity="business_day",
        entity_id=day.isoformat(),
        office_id=office_id,
        details={
            "matched": len(settled),
            "matched_cents": matched_cents,
            "fee_cents": fee_cents,
            "new_exceptions": new,
            "open_exceptions": still,
            "auto_resolved": gone,
        },
    )
    session.flush()
    return RunResult(
        office_id,
        day,
        len(settled),
        matched_cents,
        fee_cents,
        net_cents,
        refunds_matched,
        new,
        still,
        gone,
        findings,
    )


def _serialize(session: Session, office_id: int) -> None:
    """One run per office at a time (SQLite's BEGIN IMMEDIATE already serializes writers)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:k, :o)"), {"k": _PG_LOCK_KEY, "o": office_id}
        )


@dataclass
class _Expected:
    """A refund our records say went back to a card (a card refund or a card void)."""

    ref: str
    payment: Payment
    amount_cents: int
    processor_id: str | None
    key: str | None


def _match_refunds(session, office_id, day, tz, cards, stripe_refunds, charges_by_id):
    expected: list[_Expected] = []
    for card in cards:
        if card.payment.status == PaymentStatus.VOIDED.value:
            p = card.payment
            expected.append(
                _Expected(f"void:{p.id}", p, card.tender_cents, None, idempotency_key(p.id, "void"))
            )
    local_refunds = session.execute(
        select(Refund, Payment)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(
            Refund.business_date == day,
            Refund.kind == TenderKind.CARD.value,
            Refund.status != "failed",
            Payment.office_id == office_id,
        )
        .order_by(Refund.created_at)
    ).all()
    for refund, payment in local_refunds:
        expected.append(
            _Expected(
                refund.id,
                payment,
                refund.amount_cents,
                refund.processor_refund_id,
                idempotency_key(payment.id, f"refund:{refund.idempotency_key}"),
            )
        )

    by_id = {r.id: r for r in stripe_refunds}
    by_key = {r.refund_key: r for r in stripe_refunds if r.refund_key}
    used: set[str] = set()
    findings: list[Finding] = []
    matched = 0
    for e in expected:
        found = (by_id.get(e.processor_id) if e.processor_id else None) or by_key.get(e.key)
        if found is None:
            # A refund made without our metadata: the one on the same charge with that amount.
            charge_ids = {e.payment.processor_charge_id, None} - {None}
            found = next(
                (
                    r
                    for r in stripe_refunds
                    if r.id not in used
                    and r.charge_id in charge_ids
                    and r.amount_cents == e.amount_cents
                ),
                None,
            )
        if found is None or found.id in used:
            findings.append(
                Finding(
                    ExceptionKind.RECORD_WITHOUT_REFUND,
                    e.ref,
                    payment_id=e.payment.id,
                    refund_id=e.processor_id,
                    expected_cents=e.amount_cents,
                    detail=f"receipt {e.payment.receipt_number}: "
                    + ("card void" if e.ref.startswith("void:") else "card refund")
                    + " has no refund at Stripe",
                )
            )
            continue
        used.add(found.id)
        if found.amount_cents != e.amount_cents:
            findings.append(
                Finding(
                    ExceptionKind.REFUND_MISMATCH,
                    found.id,
                    payment_id=e.payment.id,
                    charge_id=found.charge_id,
                    refund_id=found.id,
                    expected_cents=e.amount_cents,
                    actual_cents=found.amount_cents,
                    detail=f"receipt {e.payment.receipt_number}",
                )
            )
            continue
        matched += 1

    # Refunds at Stripe made that day that none of our records accounts for.
    for r in stripe_refunds:
        if r.id in used or business_date(r.created, tz) != day:
            continue
        terms = []
        if r.charge_id:
            terms.append(Payment.processor_charge_id == r.charge_id)
        if r.payment_intent:
            terms.append(Payment.processor_intent_id == r.payment_intent)
        if r.payment_id:
            terms.append(Payment.id == r.payment_id)
        owner = (
            session.scalars(select(Payment).where(or_(*terms)).limit(1)).first() if terms else None
        )
        if owner is not None and owner.office_id != office_id:
            continue
        if owner is not None and _accounted_elsewhere(session, owner, r, day):
            continue
        charge = charges_by_id.get(r.charge_id)
        if owner is None and charge is not None and charge.office_id not in (None, str(office_id)):
            continue
        by_review = owner is not None and r.id in set(
            review.refunded_charges(session, owner.id).values()
        )
        findings.append(
            Finding(
                ExceptionKind.REFUND_WITHOUT_RECORD,
                r.id,
                payment_id=owner.id if owner is not None else None,
                charge_id=r.charge_id,
                refund_id=r.id,
                actual_cents=r.amount_cents,
                detail=(
                    f"on receipt {owner.receipt_number}" if owner is not None else "charge not ours"
                ),
                explained=(
                    f"The review of payment {owner.id} refunded a stray charge with it."
                    if by_review
                    else None
                ),
            )
        )
    return matched, findings


def _accounted_elsewhere(session: Session, owner: Payment, r: LedgerRefund, day) -> bool:
    """A refund that a record of another business day made (that day's void or refund)."""
    if (
        r.refund_key == idempotency_key(owner.id, "void")
        and owner.status == PaymentStatus.VOIDED.value
    ):
        return owner.business_date != day
    other = session.scalar(
        select(func.count()).where(Refund.processor_refund_id == r.id, Refund.business_date != day)
    )
    return bool(other)


def _store_payouts(session, office_id, tz, payouts, members, now) -> None:
    for p in payouts:
        row = session.get(CardPayout, p.id)
        if row is None:
            row = CardPayout(id=p.id)
            session.add(row)
        row.amount_cents, row.currency, row.status = p.amount_cents, p.currency, p.status
        row.arrival_date, row.created, row.seen_at = p.arrival_date, p.created, now
        session.flush()
        session.execute(delete(CardPayoutDay).where(CardPayoutDay.payout_id == p.id))
        carried = [bt for bt in members[p.id] if bt.type != "payout"]  # not its own entry
        sources = [bt.source for bt in carried if bt.source]
        owners = (
            dict(
                session.execute(
                    select(Payment.processor_charge_id, Payment).where(
                        Payment.processor_charge_id.in_(sources)
                    )
                ).all()
            )
            if sources
            else {}
        )
        refunds = (
            {
                rid: (office, day)
                for rid, office, day in session.execute(
                    select(Refund.processor_refund_id, Payment.office_id, Refund.business_date)
                    .join(Payment, Payment.id == Refund.payment_id)
                    .where(Refund.processor_refund_id.in_(sources))
                )
            }
            if sources
            else {}
        )
        sums: dict[tuple[int | None, dt.date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for bt in carried:
            owner = owners.get(bt.source)
            if owner is not None and owner.business_date is not None:
                key = (owner.office_id, owner.business_date)
            elif bt.source in refunds:
                key = refunds[bt.source]
            else:
                key = (None, business_date(bt.created or p.created, tz))
            s = sums[key]
            s[0] += 1 if bt.type == "charge" else 0
            s[1] += bt.amount_cents
            s[2] += bt.fee_cents
            s[3] += bt.net_cents
        for (office, day), (n, amount, fee, net) in sorted(
            sums.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0)
        ):
            session.add(
                CardPayoutDay(
                    payout_id=p.id,
                    office_id=office,
                    business_date=day,
                    charge_count=n,
                    amount_cents=amount,
                    fee_cents=fee,
                    net_cents=net,
                )
            )
    session.flush()


def _sync_exceptions(session, office_id, day, findings, now) -> tuple[int, int, int]:
    """Bring the stored exceptions of the day in line with this run's findings."""
    existing = {
        (e.kind, e.ref): e
        for e in session.scalars(
            select(ReconciliationException).where(
                ReconciliationException.office_id == office_id,
                ReconciliationException.business_date == day,
            )
        )
    }
    new = explained_now = 0
    seen: set[tuple[str, str]] = set()
    for f in findings:
        key = (f.kind.value, f.ref)
        if key in seen:
            continue
        seen.add(key)
        row = existing.get(key)
        if row is None:
            row = ReconciliationException(
                office_id=office_id,
                business_date=day,
                kind=f.kind.value,
                ref=f.ref,
                payment_id=f.payment_id,
                charge_id=f.charge_id,
                refund_id=f.refund_id,
                expected_cents=f.expected_cents,
                actual_cents=f.actual_cents,
                detail=f.detail,
                found_at=now,
                last_seen_at=now,
            )
            session.add(row)
            if f.explained is None:
                new += 1
        else:
            row.last_seen_at = now
            row.expected_cents, row.actual_cents, row.detail = (
                f.expected_cents,
                f.actual_cents,
                f.detail,
            )
            if row.resolved_at is not None and row.resolved_by == SYSTEM_ACTOR:
                # It had gone away on its own and is back: open again.
                row.resolved_at = row.resolved_by = row.resolution_note = None
        if f.explained is not None and row.resolved_at is None:
            row.resolved_at = now
            row.resolved_by = REVIEW_ACTOR
            row.resolution_note = f.explained
            if row.id is not None:
                explained_now += 1  # was open: the review settled it since the last run
    gone = 0
    for key, row in existing.items():
        if key not in seen and row.resolved_at is None:
            row.resolved_at = now
            row.resolved_by = SYSTEM_ACTOR
            row.resolution_note = "No longer found by the reconciliation run of " + now.strftime(
                "%Y-%m-%d %H:%M UTC"
            )
            gone += 1
    gone += explained_now
    session.flush()
    still = session.scalar(
        select(func.count()).where(
            ReconciliationException.office_id == office_id,
            ReconciliationException.business_date == day,
            ReconciliationException.resolved_at.is_(None),
        )
    )
    return new, int(still or 0), gone


def resolve_exception(
    session: Session,
    exception_id: int,
    *,
    note: str,
    actor: str,
    resolved_by_id: int | None,
    office_id: int | None = None,
    now: dt.datetime | None = None,
) -> ReconciliationException:
    """A finance user closes an exception with a note saying what was done (audited)."""
    note = (note or "").strip() if isinstance(note, str) else ""
    if not note:
        raise ReconciliationError("note_required", "Say how the exception was resolved.")
    if len(note) > MAX_NOTE:
        raise ReconciliationError("note_too_long", f"Keep the note under {MAX_NOTE} characters.")
    row = session.get(ReconciliationException, exception_id, with_for_update=True)
    if row is None or (office_id is not None and row.office_id != office_id):
        raise ExceptionNotFound("exception_not_found", "No such reconciliation exception.")
    if row.resolved_at is not None:
        raise AlreadyResolved(
            "already_resolved", f"This exception was already resolved by {row.resolved_by}."
        )
    row.resolved_at = now or utcnow()
    row.resolved_by_id = resolved_by_id
    row.resolved_by = actor
    row.resolution_note = note
    audit.record(
        session,
        "reconciliation.exception_resolved",
        actor=actor,
        entity="reconciliation_exception",
        entity_id=str(row.id),
        office_id=row.office_id,
        details={
            "kind": row.kind,
            "ref": row.ref,
            "business_date": row.business_date.isoformat(),
            "note": note,
        },
    )
    session.flush()
    return row


# -- reading the result ----------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutLine:
    payout_id: str
    arrival_date: dt.date
    status: str
    amount_cents: int  # the whole payout
    day_net_cents: int  # the part of it that is this day's
    days: list[dt.date]  # every business day (of this office) the payout carries


@dataclass(frozen=True)
class ExceptionLine:
    id: int
    kind: str
    label: str
    business_date: dt.date
    ref: str
    payment_id: str | None
    expected_cents: int | None
    actual_cents: int | None
    detail: str
    found_at: dt.datetime


@dataclass(frozen=True)
class CardSection:
    """The card part of the daily report."""

    reconciled: bool  # a reconciliation has run for the day
    reconciled_at: dt.datetime | None
    matched_count: int
    matched_cents: int
    fee_cents: int
    net_cents: int
    unpaid_count: int  # matched charges not yet in a payout
    payouts: list[PayoutLine]
    open_exceptions: list[ExceptionLine]


def card_section(session: Session, office_id: int, day: dt.date) -> CardSection:
    """Matched charges, fees, net and payouts for the day, and every open exception of the
    office up to that day (an exception stays on the report until it is resolved)."""
    n, amount, fee, net, unpaid = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(CardSettlement.amount_cents), 0),
            func.coalesce(func.sum(CardSettlement.fee_cents), 0),
            func.coalesce(func.sum(CardSettlement.net_cents), 0),
            func.coalesce(func.sum(case((CardSettlement.payout_id.is_(None), 1), else_=0)), 0),
        ).where(CardSettlement.office_id == office_id, CardSettlement.business_date == day)
    ).one()
    at = session.scalar(
        select(func.max(audit.AuditEvent.at)).where(
            audit.AuditEvent.action == "reconciliation.run",
            audit.AuditEvent.entity_id == day.isoformat(),
            audit.AuditEvent.office_id == office_id,
        )
    )
    return CardSection(
        reconciled=at is not None,
        reconciled_at=at,
        matched_count=int(n),
        matched_cents=int(amount),
        fee_cents=int(fee),
        net_cents=int(net),
        unpaid_count=int(unpaid),
        payouts=payouts_for_day(session, office_id, day),
        open_exceptions=open_exceptions(session, office_id, until=day),
    )


def payouts_for_day(session: Session, office_id: int, day: dt.date) -> list[PayoutLine]:
    """The payouts that carry the day's charges, each with every day it carries."""
    parts = session.execute(
        select(CardPayoutDay.payout_id, func.sum(CardPayoutDay.net_cents))
        .where(CardPayoutDay.office_id == office_id, CardPayoutDay.business_date == day)
        .group_by(CardPayoutDay.payout_id)
    ).all()
    if not parts:
        return []
    ids = [p for p, _ in parts]
    carried: dict[str, list[dt.date]] = defaultdict(list)
    for pid, d in session.execute(
        select(CardPayoutDay.payout_id, CardPayoutDay.business_date)
        .where(CardPayoutDay.payout_id.in_(ids), CardPayoutDay.office_id == office_id)
        .order_by(CardPayoutDay.business_date)
    ):
        if d not in carried[pid]:
            carried[pid].append(d)
    payouts = {p.id: p for p in session.scalars(select(CardPayout).where(CardPayout.id.in_(ids)))}
    return sorted(
        (
            PayoutLine(
                pid,
                payouts[pid].arrival_date,
                payouts[pid].status,
                payouts[pid].amount_cents,
                int(part),
                carried[pid],
            )
            for pid, part in parts
        ),
        key=lambda line: (line.arrival_date, line.payout_id),
    )


def open_exceptions(
    session: Session, office_id: int, *, until: dt.date | None = None
) -> list[ExceptionLine]:
    stmt = select(ReconciliationException).where(
        ReconciliationException.office_id == office_id,
        ReconciliationException.resolved_at.is_(None),
    )
    if until is not None:
        stmt = stmt.where(ReconciliationException.business_date <= until)
    rows = session.scalars(
        stmt.order_by(ReconciliationException.business_date, ReconciliationException.id)
    )
    return [_line(r) for r in rows]


def _line(r: ReconciliationException) -> ExceptionLine:
    return ExceptionLine(
        r.id,
        r.kind,
        r.label,
        r.business_date,
        r.ref,
        r.payment_id,
        r.expected_cents,
        r.actual_cents,
        r.detail,
        r.found_at,
    )


def exceptions_for_day(
    session: Session, office_id: int, day: dt.date
) -> list[ReconciliationException]:
    """Every exception of the day, open first."""
    return list(
        session.scalars(
            select(ReconciliationException)
            .where(
                ReconciliationException.office_id == office_id,
                ReconciliationException.business_date == day,
            )
            .order_by(ReconciliationException.resolved_at.is_not(None), ReconciliationException.id)
        )
    )


def settlements_for_day(session: Session, office_id: int, day: dt.date) -> list[CardSettlement]:
    return list(
        session.scalars(
            select(CardSettlement)
            .where(CardSettlement.office_id == office_id, CardSettlement.business_date == day)
            .order_by(CardSettlement.receipt_number)
        )
    )
