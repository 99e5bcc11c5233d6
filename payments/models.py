"""Records of money: payments, their tender lines and bill allocations, receipt-number
sequences and business days. Amounts are integer cents, guarded by check constraints."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class Channel(enum.StrEnum):
    KIOSK = "kiosk"
    COUNTER = "counter"
    API = "api"


class PaymentStatus(enum.StrEnum):
    CREATED = "created"
    AWAITING_CARD = "awaiting_card"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    VOIDED = "voided"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class TenderKind(enum.StrEnum):
    CARD = "card"
    CASH = "cash"
    CHECK = "check"
    MONEY_ORDER = "money_order"


class DayStatus(enum.StrEnum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    REOPENED = "reopened"


def _enum_check(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Payment(Base):
    """An amount applied to one account, paid by one or more tender lines."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("fee_cents >= 0", name="fee_not_negative"),
        CheckConstraint("change_cents >= 0", name="change_not_negative"),
        CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refund_within_amount"
        ),
        CheckConstraint(_enum_check("status", PaymentStatus), name="status_known"),
        CheckConstraint(_enum_check("channel", Channel), name="channel_known"),
        UniqueConstraint("office_id", "business_date", "receipt_seq", name="receipt_seq"),
        UniqueConstraint("idempotency_key", name="idempotency_key"),
        Index("ix_payments_status_created", "status", "created_at"),
        Index("ix_payments_office_day", "office_id", "business_date"),
        Index("ix_payments_account", "account_id", "created_at"),
        # The few payments flagged for staff, counted on every finance page and counter hub.
        Index(
            "ix_payments_needs_review",
            "needs_review",
            "office_id",
            sqlite_where=text("needs_review IS 1"),
            postgresql_where=text("needs_review IS true"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    account_number: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default=PaymentStatus.CREATED.value)
    amount_cents: Mapped[int] = mapped_column(Integer)
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    change_cents: Mapped[int] = mapped_column(Integer, default=0)
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str] = mapped_column(String(5), default="en")
    idempotency_key: Mapped[str] = mapped_column(String(128))
    business_date: Mapped[dt.date | None] = mapped_column(Date)
    receipt_seq: Mapped[int | None] = mapped_column(Integer)
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    # Card details as the processor reports them. Never a card number.
    card_brand: Mapped[str | None] = mapped_column(String(24))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_auth_code: Mapped[str | None] = mapped_column(String(32))
    processor_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    processor_charge_id: Mapped[str | None] = mapped_column(String(64))
    reader_id: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(255))
    needs_review: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)
    # The cash drawer its cash, checks and money orders went into (counter payments).
    drawer_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("drawer_sessions.id"), index=True
    )

    tenders: Mapped[list[TenderLine]] = relationship(
        back_populates="payment", cascade="all, delete-orphan", order_by="TenderLine.id"
    )
    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="payment", cascade="all, delete-orphan"
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="payment", cascade="all, delete-orphan", order_by="Refund.created_at"
    )


class TenderLine(Base):
    """One way the customer paid: card, cash, check or money order."""

    __tablename__ = "tender_lines"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(_enum_check("kind", TenderKind), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(64))  # check / money-order number
    bank: Mapped[str | None] = mapped_column(String(64))

    payment: Mapped[Payment] = relationship(back_populates="tenders")


class PaymentAllocation(Base):
    """The part of a payment applied to a specific bill."""

    __tablename__ = "payment_allocations"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)

    payment: Mapped[Payment] = relationship(back_populates="allocations")


class Refund(Base):
    """Money given back after the business day closed (a void reverses before then)."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(_enum_check("kind", TenderKind), name="kind_known"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    payment_id: Mapped[str] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    processor_refund_id: Mapped[str | None] = mapped_column(String(64))
    business_date: Mapped[dt.date] = mapped_column(Date, index=True)  # the daily report
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The cash drawer a cash refund was paid out of.
    drawer_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("drawer_sessions.id"), index=True
    )

    payment: Mapped[Payment] = relationship(back_populates="refunds")


class ReceiptSequence(Base):
    """Last receipt number handed out for an office and business day (gap-free)."""

    __tablename__ = "receipt_sequences"
    __table_args__ = (CheckConstraint("last_number >= 0", name="last_not_negative"),)

    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class BusinessDay(Base):
    """An office's business day: open, closing, closed (locked) or reopened."""

    __tablename__ = "business_days"
    __table_args__ = (
        UniqueConstraint("office_id", "business_date", name="office_date"),
        CheckConstraint(_enum_check("status", DayStatus), name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=DayStatus.OPEN.value)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    notes: Mapped[str | None] = mapped_column(Text)


# -- cash drawers ----------------------------------------------------------------------------


class DrawerStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CountPhase(enum.StrEnum):
    OPEN = "open"  # the float, counted when the drawer opens
    CLOSE = "close"  # the blind count at close


class MovementKind(enum.StrEnum):
    DROP = "drop"  # the cashier takes excess cash out to the safe
    PICKUP = "pickup"  # a supervisor collects cash from the drawer
    PAID_IN = "paid_in"  # cash put into the drawer (more change from the safe)


# Denomination key -> value in cents. Bills are named in dollars, coins in cents.
DENOMINATIONS: dict[str, int] = {
    "bill_100": 10_000,
    "bill_50": 5_000,
    "bill_20": 2_000,
    "bill_10": 1_000,
    "bill_5": 500,
    "bill_2": 200,
    "bill_1": 100,
    "coin_100": 100,
    "coin_50": 50,
    "coin_25": 25,
    "coin_10": 10,
    "coin_5": 5,
    "coin_1": 1,
}


class DrawerSession(Base):
    """One cashier's cash drawer at one counter station, from the float to the blind count.

    Amounts are frozen at close: ``expected_cents`` (what the records say should be there),
    ``counted_cents`` (the blind count) and ``over_short_cents`` (counted - expected).
    """

    __tablename__ = "drawer_sessions"
    __table_args__ = (
        CheckConstraint(_enum_check("status", DrawerStatus), name="status_known"),
        CheckConstraint("float_cents >= 0", name="float_not_negative"),
        CheckConstraint("counted_cents IS NULL OR counted_cents >= 0", name="counted_not_negative"),
        # One open drawer per station, whatever races the application code loses.
        Index(
            "ix_drawer_sessions_one_open_per_station",
            "station_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_drawer_sessions_office_day", "office_id", "business_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    cashier_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=DrawerStatus.OPEN.value)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    float_cents: Mapped[int] = mapped_column(Integer)
    counted_cents: Mapped[int | None] = mapped_column(Integer)
    expected_cents: Mapped[int | None] = mapped_column(Integer)
    over_short_cents: Mapped[int | None] = mapped_column(Integer)
    # Checks and money orders: how many and how much the records list vs the count.
    checks_expected_count: Mapped[int | None] = mapped_column(Integer)
    checks_expected_cents: Mapped[int | None] = mapped_column(Integer)
    checks_counted_count: Mapped[int | None] = mapped_column(Integer)
    checks_counted_cents: Mapped[int | None] = mapped_column(Integer)
    # Over/short beyond the tolerance needs a supervisor's approval.
    approval_required: Mapped[bool] = mapped_column(default=False)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    open_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    close_key: Mapped[str | None] = mapped_column(String(128), unique=True)

    counts: Mapped[list[DrawerCount]] = relationship(
        back_populates="drawer", cascade="all, delete-orphan", order_by="DrawerCount.id"
    )
    movements: Mapped[list[DrawerMovement]] = relationship(
        back_populates="drawer", cascade="all, delete-orphan", order_by="DrawerMovement.id"
    )


class DrawerCount(Base):
    """How many pieces of one denomination were counted, at open (float) or at close."""

    __tablename__ = "drawer_counts"
    __table_args__ = (
        UniqueConstraint("drawer_session_id", "phase", "denomination", name="one_per_denomination"),
        CheckConstraint(_enum_check("phase", CountPhase), name="phase_known"),
        CheckConstraint(
            f"denomination IN ({', '.join(repr(d) for d in DENOMINATIONS)})",
            name="denomination_known",
        ),
        CheckConstraint("count >= 0", name="count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    drawer_session_id: Mapped[int] = mapped_column(
        ForeignKey("drawer_sessions.id", ondelete="CASCADE")
    )
    phase: Mapped[str] = mapped_column(String(8))
    denomination: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(Integer)

    drawer: Mapped[DrawerSession] = relationship(back_populates="counts")


class DrawerMovement(Base):
    """Cash taken out of (drop, pickup) or put into (paid-in) an open drawer, with a reason."""

    __tablename__ = "drawer_movements"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(_enum_check("kind", MovementKind), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    drawer_session_id: Mapped[int] = mapped_column(
        ForeignKey("drawer_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor: Mapped[str] = mapped_column(String(120))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    drawer: Mapped[DrawerSession] = relationship(back_populates="movements")
