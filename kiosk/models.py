"""The office's own records: offices, stations, staff, the CIS account mirror and its bills,
visits, queue tickets and service requests. Payments live in ``payments.models``; all share
one metadata (``payments.db.Base``)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.audit import AuditEvent, AuditHead  # noqa: F401  (register tables)
from payments.db import Base, UTCDateTime, utcnow
from payments.deposit import Deposit  # noqa: F401  (register tables)
from payments.models import (  # noqa: F401  (register tables)
    BusinessDay,
    Payment,
    PaymentAllocation,
    ReceiptSequence,
    Refund,
    TenderLine,
    new_id,
)
from payments.outbox import OutboxMessage  # noqa: F401  (register tables)
from payments.posting_batch import PostingBatch  # noqa: F401  (register tables)
from payments.reconciliation import ReconciliationException  # noqa: F401  (register tables)
from payments.simulated import SimulatedAttempt, SimulatedTestCard  # noqa: F401  (tables)


class Role(enum.StrEnum):
    KIOSK = "kiosk"  # a registered kiosk device, never a person
    CASHIER = "cashier"
    SUPERVISOR = "supervisor"
    FINANCE = "finance"
    ADMIN = "admin"


STAFF_ROLES = (Role.CASHIER, Role.SUPERVISOR, Role.FINANCE, Role.ADMIN)


class StationKind(enum.StrEnum):
    KIOSK = "kiosk"
    COUNTER = "counter"


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(200))
    city_line: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="America/Los_Angeles")

    stations: Mapped[list[Station]] = relationship(back_populates="office")


class Station(Base):
    """A kiosk or counter station, paired once with a browser that then holds a device cookie."""

    __tablename__ = "stations"
    __table_args__ = (
        UniqueConstraint("office_id", "name", name="office_name"),
        CheckConstraint("kind IN ('kiosk', 'counter')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    printer_url: Mapped[str | None] = mapped_column(String(255))
    reader_id: Mapped[str | None] = mapped_column(String(64))
    # Only hashes are kept: a leaked database cannot be used to impersonate a device.
    device_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pairing_code_hash: Mapped[str | None] = mapped_column(String(64))
    pairing_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    office: Mapped[Office] = relationship(back_populates="stations")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(120))  # comma-separated Role values
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_set.intersection(roles))


class RateLimitBucket(Base):
    """A fixed-window counter (e.g. failed pairing attempts per address), kept in the database
    so every web worker sees the same count."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Account(Base):
    """The office's mirror of a CIS account. The CIS is the system of record."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('residential', 'commercial')", name="kind_known"),
        CheckConstraint("past_due_cents >= 0", name="past_due_not_negative"),
        Index("ix_accounts_house_street", "house_number", "street_name"),
        Index("ix_accounts_street_house", "street_name", "house_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    # Service address, split so that "house number then street" search uses an index.
    house_number: Mapped[int] = mapped_column(Integer)
    street_dir: Mapped[str | None] = mapped_column(String(2))  # N, S, E, W
    street_name: Mapped[str] = mapped_column(String(60))  # upper case, e.g. "BRISTOL"
    street_suffix: Mapped[str | None] = mapped_column(String(8))  # ST, AVE, ...
    unit: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(60), default="SANTA ANA")
    zip_code: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    pickup_day: Mapped[str] = mapped_column(String(9))  # monday .. saturday
    services: Mapped[str] = mapped_column(String(255), default="")
    balance_cents: Mapped[int] = mapped_column(Integer, default=0)  # negative = credit
    past_due_cents: Mapped[int] = mapped_column(Integer, default=0)
    last_payment_cents: Mapped[int | None] = mapped_column(Integer)
    last_payment_date: Mapped[dt.date | None] = mapped_column(Date)
    cis_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    bills: Mapped[list[Bill]] = relationship(back_populates="account", order_by="Bill.due_date")

    @property
    def street(self) -> str:
        return " ".join(p for p in (self.street_dir, self.street_name, self.street_suffix) if p)

    @property
    def service_address(self) -> str:
        line = f"{self.house_number} {self.street}"
        return f"{line} {self.unit}" if self.unit else line


def phone_digits(column):
    """A phone number with its punctuation removed, as SQL ("(714) 555-0101" -> "7145550101");
    the counter's phone search and its index use this same expression."""
    # Literals, not bound parameters: a query matches an expression index only when its
    # SQL text is the same as the index's.
    for ch in (" ", "(", ")", "-", ".", "+"):
        column = func.replace(column, text(f"'{ch}'"), text("''"))
    return column


# Counter search by name (prefix and word) and by phone digits, case and format aside.
Index("ix_accounts_name_upper", func.upper(Account.name))
Index("ix_accounts_phone_digits", phone_digits(Account.phone))


class Bill(Base):
    __tablename__ = "bills"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("open_cents >= 0 AND open_cents <= amount_cents", name="open_within"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)
    open_cents: Mapped[int] = mapped_column(Integer)
    scanline: Mapped[str] = mapped_column(String(40), unique=True)

    account: Mapped[Account] = relationship(back_populates="bills")


class Visit(Base):
    """One customer visit on any channel, with reason and outcome codes from one vocabulary."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("channel IN ('kiosk', 'counter')", name="channel_known"),
        Index("ix_visits_office_started", "office_id", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    channel: Mapped[str] = mapped_column(String(16))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("queue_tickets.id"))
    language: Mapped[str] = mapped_column(String(5), default="en")
    reason_codes: Mapped[str] = mapped_column(String(255), default="")  # comma-separated
    outcome_code: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    called_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class QueueTicket(Base):
    __tablename__ = "queue_tickets"
    __table_args__ = (
        UniqueConstraint("office_id", "business_date", "number", name="office_day_number"),
        Index("ix_queue_waiting", "office_id", "status", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    number: Mapped[str] = mapped_column(String(8))  # e.g. "B012"
    service: Mapped[str] = mapped_column(String(24))
    language: Mapped[str] = mapped_column(String(5), default="en")
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    called_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    served_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A ticket transferred to one counter waits for that counter only (kiosk.queue).
    for_station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    # Last time the number was shown on the lobby screen (first call or a recall).
    announced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class QueueRequest(Base):
    """A counter's queue or visit request, remembered by its idempotency key so a retried
    "Call next" returns the same ticket instead of calling another one."""

    __tablename__ = "queue_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    action: Mapped[str] = mapped_column(String(24))
    fingerprint: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("queue_tickets.id"))
    visit_id: Mapped[str | None] = mapped_column(ForeignKey("visits.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceRequest(Base):
    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text, default="{}")
    language: Mapped[str] = mapped_column(String(5), default="en")
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="received")
    scheduled_for: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


from kiosk.signins import CounterSignIn  # noqa: E402,F401  (register the table)
