"""The daily report of an office: what was taken, by tender, station, cashier and kiosk, what
was voided and refunded and by whose approval, and the net. Every figure is a SQL aggregate
(GROUP BY over the day's rows), so the cost grows with the day's volume, not with Python loops.

Definitions (all integer cents):
  receipted   payments given a receipt number that day (voided ones keep theirs)
  voided      receipted payments voided the same day
  collected   receipted minus voided: ``amount`` (applied to accounts) plus ``fees`` (card fee)
  tenders     per tender kind over collected payments; cash is net of change given
  refunds     refunds dated that day (any payment's), per kind
  net         collected amount + fees - refunds
  card        card payments matched to Stripe (fees, net, payouts, open exceptions), as
              stored by the last reconciliation run (payments.reconciliation)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from payments import days
from payments.db import Base, utcnow
from payments.models import Payment, PaymentStatus, Refund, TenderKind, TenderLine
from payments.reconciliation import CardSection, card_section

RECEIPTED = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.VOIDED,
)
TENDER_ORDER = [k.value for k in (TenderKind.CASH, TenderKind.CHECK, TenderKind.MONEY_ORDER)] + [
    TenderKind.CARD.value
]


@dataclass(frozen=True)
class Totals:
    count: int = 0
    amount_cents: int = 0


@dataclass(frozen=True)
class TenderTotal:
    kind: str
    count: int  # tender lines
    tendered_cents: int  # as handed over (cash before change)
    change_cents: int
    collected_cents: int  # tendered - change
    refunded_cents: int  # refunds of this kind dated that day
    net_cents: int  # collected - refunded


@dataclass(frozen=True)
class GroupTotal:
    key: str  # station name, cashier's name or kiosk name
    kind: str  # kiosk | counter | cashier | other
    count: int
    amount_cents: int
    fee_cents: int


@dataclass(frozen=True)
class Adjustment:
    """A void or a refund, with who approved it."""

    kind: str  # void | refund
    receipt_number: str | None
    payment_id: str
    amount_cents: int
    tender: str  # how it went back (a void reverses all tenders: "all")
    approved_by: str | None
    reason: str | None
    at: dt.datetime | None


@dataclass(frozen=True)
class DailyReport:
    office_id: int
    office_code: str
    office_name: str
    business_date: dt.date
    day_status: str
    generated_at: dt.datetime
    receipted: Totals
    voided: Totals
    collected: Totals
    fees_cents: int
    refunds: Totals
    net_cents: int
    tenders: list[TenderTotal] = field(default_factory=list)
    by_station: list[GroupTotal] = field(default_factory=list)
    by_operator: list[GroupTotal] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    card: CardSection | None = None  # Stripe reconciliation (payments.reconciliation)

    def as_dict(self) -> dict[str, Any]:
        def plain(value):
            if isinstance(value, dt.datetime):
                return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if isinstance(value, dt.date):
                return value.isoformat()
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return plain(dataclasses.asdict(self))


def _names(session: Session, table: str, column: str, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    t = Base.metadata.tables[table]
    return dict(session.execute(select(t.c.id, t.c[column]).where(t.c.id.in_(ids))).all())


def daily_report(
    session: Session, office_id: int, day: dt.date, *, now: dt.datetime | None = None
) -> DailyReport:
    where = days.office(session, office_id)
    record = days.get_day(session, office_id, day)
    of_day = and_(Payment.office_id == office_id, Payment.business_date == day)
    receipted = Payment.status.in_([s.value for s in RECEIPTED])
    live = and_(receipted, Payment.status != PaymentStatus.VOIDED.value)

    # One pass over the day's payments, grouped finely enough (station, staff, channel,
    # status: a few dozen groups) that every head count and breakdown is a sum of groups.
    groups = session.execute(
        select(
            Payment.station_id,
            Payment.staff_user_id,
            Payment.channel,
            Payment.status,
            func.count(),
            func.sum(Payment.amount_cents),
            func.sum(Payment.fee_cents),
        )
        .where(of_day, receipted)
        .group_by(Payment.station_id, Payment.staff_user_id, Payment.channel, Payment.status)
    ).all()

    # Tenders of collected payments; change comes only out of cash.
    change = case((TenderLine.kind == TenderKind.CASH.value, Payment.change_cents), else_=0)
    tender_rows = session.execute(
        select(
            TenderLine.kind,
            func.count(),
            func.sum(TenderLine.amount_cents),
            func.coalesce(func.sum(change), 0),
        )
        .join(Payment, Payment.id == TenderLine.payment_id)
        .where(of_day, live)
        .group_by(TenderLine.kind)
    ).all()
    # Refunds are found by their own business day (indexed) and grouped per office, so the
    # plan starts from the day's few refunds, never from the office's history of payments.
    refund_payment = aliased(Payment)
    refund_of_day = and_(Refund.business_date == day, Refund.status != "failed")
    refund_rows = [
        (kind, n, c)
        for office, kind, n, c in session.execute(
            select(
                refund_payment.office_id, Refund.kind, func.count(), func.sum(Refund.amount_cents)
            )
            .join(refund_payment, refund_payment.id == Refund.payment_id)
            .where(refund_of_day)
            .group_by(refund_payment.office_id, Refund.kind)
        )
        if office == office_id
    ]
    refunded = {kind: (int(n), int(c)) for kind, n, c in refund_rows}
    tendered = {kind: (int(n), int(c), int(ch)) for kind, n, c, ch in tender_rows}
    tenders = []
    for kind in TENDER_ORDER:
        n, amount, ch = tendered.get(kind, (0, 0, 0))
        back = refunded.get(kind, (0, 0))[1]
        if n or back:
            tenders.append(TenderTotal(kind, n, amount, ch, amount - ch, back, amount - ch - back))
    refund_n = sum(n for n, _ in refunded.values())
    refund_c = sum(c for _, c in refunded.values())

    # Voids and refunds are few; they are listed one by one with their approver.
    voids = session.execute(
        select(
            Payment.id,
            Payment.receipt_number,
            Payment.amount_cents,
            Payment.voided_by_id,
            Payment.voided_at,
            Payment.void_reason,
        )
        .where(of_day, Payment.status == PaymentStatus.VOIDED.value)
        .order_by(Payment.receipt_seq)
    ).all()
    refund_list = [
        r
        for r in session.execute(
            select(
                refund_payment.office_id,
                Refund.payment_id,
                refund_payment.receipt_number,
                Refund.amount_cents,
                Refund.kind,
                Refund.approved_by_id,
                Refund.reason,
                Refund.created_at,
            )
            .join(refund_payment, refund_payment.id == Refund.payment_id)
            .where(refund_of_day)
            .order_by(Refund.created_at)
        )
        if r.office_id == office_id
    ]
    station_names = _names(session, "stations", "name", {g[0] for g in groups if g[0]})
    staff_names = _names(
        session,
        "staff_users",
        "full_name",
        {g[1] for g in groups if g[1]}
        | {v.voided_by_id for v in voids if v.voided_by_id}
        | {r.approved_by_id for r in refund_list if r.approved_by_id},
    )

    rec_n = rec_c = void_n = void_c = fees = 0
    stations: dict[tuple[str, str], list[int]] = {}
    operators: dict[tuple[str, str], list[int]] = {}
    for station_id, staff_id, channel, status, n, amount, fee in groups:
        n, amount, fee = int(n), int(amount), int(fee)
        rec_n, rec_c = rec_n + n, rec_c + amount
        if status == PaymentStatus.VOIDED:
            void_n, void_c = void_n + n, void_c + amount
            continue
        fees += fee
        station = (
            station_names.get(station_id, f"station {station_id}")
            if station_id
            else f"no station ({channel})"
        )
        if staff_id:
            operator = (staff_names.get(staff_id, f"staff {staff_id}"), "cashier")
        elif station_id:
            kind = "kiosk" if channel == "kiosk" else "other"
            operator = (station_names.get(station_id, f"station {station_id}"), kind)
        else:
            operator = (f"unattended ({channel})", "other")
        for table, key in ((stations, (station, channel)), (operators, operator)):
            sums = table.setdefault(key, [0, 0, 0])
            sums[0], sums[1], sums[2] = sums[0] + n, sums[1] + amount, sums[2] + fee
    live_n, live_c = rec_n - void_n, rec_c - void_c
    by_station = sorted(
        (GroupTotal(k[0], k[1], *v) for k, v in stations.items()), key=lambda g: (g.kind, g.key)
    )
    by_operator = sorted(
        (GroupTotal(k[0], k[1], *v) for k, v in operators.items()), key=lambda g: (g.kind, g.key)
    )

    adjustments = [
        Adjustment(
            "void",
            v.receipt_number,
            v.id,
            int(v.amount_cents),
            "all",
            staff_names.get(v.voided_by_id) if v.voided_by_id else None,
            v.void_reason,
            v.voided_at,
        )
        for v in voids
    ] + [
        Adjustment(
            "refund",
            r.receipt_number,
            r.payment_id,
            int(r.amount_cents),
            r.kind,
            staff_names.get(r.approved_by_id) if r.approved_by_id else None,
            r.reason,
            r.created_at,
        )
        for r in refund_list
    ]

    return DailyReport(
        office_id=office_id,
        office_code=where.code,
        office_name=where.name,
        business_date=day,
        day_status=record.status if record is not None else "open",
        generated_at=now or utcnow(),
        receipted=Totals(rec_n, rec_c),
        voided=Totals(void_n, void_c),
        collected=Totals(live_n, live_c),
        fees_cents=fees,
        refunds=Totals(refund_n, refund_c),
        net_cents=live_c + fees - refund_c,
        tenders=tenders,
        by_station=by_station,
        by_operator=by_operator,
        adjustments=adjustments,
        card=card_section(session, office_id, day),
    )
