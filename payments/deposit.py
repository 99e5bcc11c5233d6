"""The bank deposit of an office's business day: the deposit slip for the bank bag.

What goes in the bag (all integer cents)::

    cash     = cash counted in the day's closed drawers, by denomination
             - the float retained (returned to the safe for tomorrow), by denomination
             + drops and pickups taken to the safe during the day (amounts, no denominations)
    checks   = the checks the drawers' completed payments took, listed one by one
    money orders, likewise
    total    = cash + checks + money orders

The float retained defaults to the floats the drawers opened with, piece for piece; when the
closing counts do not hold those pieces (the quarters went out as change) the preparer gives
the float retained by denomination instead. Paid-ins came from the safe during the day and are
in the drawers' counts: they go to the bank unless the float retained takes them back.

One deposit per office and day. Preparing again makes a new version (with a reason) and the
previous one is superseded; both are audited. A deposit is verified by a second person, a
supervisor or finance user other than the preparer. Functions work in the caller's
transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from payments import audit, days
from payments import drawer as drawers
from payments.db import Base, UTCDateTime, utcnow
from payments.models import (
    DENOMINATIONS,
    CountPhase,
    DrawerMovement,
    DrawerSession,
    DrawerStatus,
    MovementKind,
    TenderKind,
)
from payments.states import PaymentError

MAX_REASON = 500
BAG_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
PREPARER_ROLES = frozenset({"finance", "supervisor"})
VERIFIER_ROLES = frozenset({"finance", "supervisor"})


class DepositStatus(enum.StrEnum):
    PREPARED = "prepared"
    VERIFIED = "verified"
    SUPERSEDED = "superseded"


class DepositError(PaymentError):
    status = 400


class DepositConflict(DepositError):
    status = 409


class DepositNotFound(DepositError):
    status = 404


class Deposit(Base):
    """One version of an office's deposit for a business day (see the module docstring)."""

    __tablename__ = "deposits"
    __table_args__ = (
        UniqueConstraint(
            "office_id", "business_date", "version", name="uq_deposits_office_date_version"
        ),
        CheckConstraint("status IN ('prepared', 'verified', 'superseded')", name="status_known"),
        CheckConstraint("cash_cents >= 0 AND total_cents >= 0", name="amounts_not_negative"),
        CheckConstraint(
            "verified_by_id IS NULL OR verified_by_id <> prepared_by_id", name="two_people"
        ),
        # One live (not superseded) deposit per office and day, whatever races are lost.
        Index(
            "ix_deposits_one_live_per_day",
            "office_id",
            "business_date",
            unique=True,
            sqlite_where=text("status <> 'superseded'"),
            postgresql_where=text("status <> 'superseded'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=DepositStatus.PREPARED.value)
    bag_number: Mapped[str] = mapped_column(String(32))
    drawer_count: Mapped[int] = mapped_column(Integer, default=0)
    counted_cash_cents: Mapped[int] = mapped_column(Integer)  # the drawers' closing counts
    float_retained_cents: Mapped[int] = mapped_column(Integer)  # back to the safe
    safe_drops_cents: Mapped[int] = mapped_column(Integer, default=0)  # drops + pickups
    cash_cents: Mapped[int] = mapped_column(Integer)  # cash in the bag
    checks_count: Mapped[int] = mapped_column(Integer, default=0)
    checks_cents: Mapped[int] = mapped_column(Integer, default=0)
    money_orders_count: Mapped[int] = mapped_column(Integer, default=0)
    money_orders_cents: Mapped[int] = mapped_column(Integer, default=0)
    total_cents: Mapped[int] = mapped_column(Integer)
    prepared_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    prepared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    amend_reason: Mapped[str | None] = mapped_column(Text)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    cash: Mapped[list[DepositCash]] = relationship(
        back_populates="deposit", cascade="all, delete-orphan", order_by="DepositCash.id"
    )
    items: Mapped[list[DepositItem]] = relationship(
        back_populates="deposit", cascade="all, delete-orphan", order_by="DepositItem.id"
    )


class DepositCash(Base):
    """Pieces of one denomination: counted in the drawers, retained as float, deposited."""

    __tablename__ = "deposit_cash"
    __table_args__ = (
        UniqueConstraint("deposit_id", "denomination", name="uq_deposit_cash_denomination"),
        CheckConstraint("retained >= 0 AND retained <= counted", name="retained_within_counted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deposit_id: Mapped[int] = mapped_column(ForeignKey("deposits.id", ondelete="CASCADE"))
    denomination: Mapped[str] = mapped_column(String(12))
    counted: Mapped[int] = mapped_column(Integer)
    retained: Mapped[int] = mapped_column(Integer)

    deposit: Mapped[Deposit] = relationship(back_populates="cash")

    @property
    def deposited(self) -> int:
        return self.counted - self.retained

    @property
    def deposited_cents(self) -> int:
        return self.deposited * DENOMINATIONS[self.denomination]


class DepositItem(Base):
    """One check or money order in the bag."""

    __tablename__ = "deposit_items"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("kind IN ('check', 'money_order')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deposit_id: Mapped[int] = mapped_column(
        ForeignKey("deposits.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(64))
    bank: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    payment_id: Mapped[str] = mapped_column(String(32))
    receipt_number: Mapped[str | None] = mapped_column(String(32))

    deposit: Mapped[Deposit] = relationship(back_populates="items")


# -- reading -----------------------------------------------------------------------------------


def current_deposit(session: Session, office_id: int, day: dt.date) -> Deposit | None:
    """The live (prepared or verified) deposit of an office and day."""
    return session.scalars(
        select(Deposit).where(
            Deposit.office_id == office_id,
            Deposit.business_date == day,
            Deposit.status != DepositStatus.SUPERSEDED.value,
        )
    ).first()


def versions(session: Session, office_id: int, day: dt.date) -> list[Deposit]:
    return list(
        session.scalars(
            select(Deposit)
            .where(Deposit.office_id == office_id, Deposit.business_date == day)
            .order_by(Deposit.version)
        )
    )


def get_deposit(session: Session, deposit_id: object) -> Deposit:
    if isinstance(deposit_id, bool) or not isinstance(deposit_id, int):
        raise DepositNotFound("deposit_not_found", "No deposit with that id.")
    found = session.get(Deposit, deposit_id)
    if found is None:
        raise DepositNotFound("deposit_not_found", "No deposit with that id.")
    return found


@dataclass(frozen=True)
class DepositFigures:
    """What the day's closed drawers say goes in the bag, before anything is stored."""

    drawers: list[DrawerSession]
    counted: dict[str, int]
    retained: dict[str, int]
    safe_drops_cents: int
    items: list[drawers.RecordedCheck]

    @property
    def counted_cents(self) -> int:
        return drawers.count_value(self.counted)

    @property
    def retained_cents(self) -> int:
        return drawers.count_value(self.retained)

    @property
    def cash_cents(self) -> int:
        return self.counted_cents - self.retained_cents + self.safe_drops_cents


def figures(
    session: Session, office_id: int, day: dt.date, float_retained: object = None
) -> DepositFigures:
    """Work out the deposit from the day's drawers. Refused while a drawer is open."""
    open_now = days.open_drawer_count(session, office_id, day)
    if open_now:
        raise DepositConflict(
            "drawers_open",
            f"{days.counted(open_now, 'cash drawer')} of {day.isoformat()} "
            f"{'is' if open_now == 1 else 'are'} still open: close them first.",
        )
    closed = list(
        session.scalars(
            select(DrawerSession)
            .where(
                DrawerSession.office_id == office_id,
                DrawerSession.business_date == day,
                DrawerSession.status == DrawerStatus.CLOSED.value,
            )
            .order_by(DrawerSession.id)
        )
    )
    if not closed:
        raise DepositConflict(
            "no_drawers", f"No cash drawer was closed on {day.isoformat()}: nothing to deposit."
        )
    counted = dict.fromkeys(DENOMINATIONS, 0)
    floats = dict.fromkeys(DENOMINATIONS, 0)
    items: list[drawers.RecordedCheck] = []
    for drawer in closed:
        for d, n in drawers.counts_of(drawer, CountPhase.CLOSE).items():
            counted[d] += n
        for d, n in drawers.counts_of(drawer, CountPhase.OPEN).items():
            floats[d] += n
        items.extend(drawers.recorded_checks(session, drawer))
    if float_retained is None:
        retained = floats
        short = [d for d in DENOMINATIONS if retained[d] > counted[d]]
        if short:
            raise DepositError(
                "float_retained_required",
                "The drawers' closing counts do not hold the opening floats piece for piece "
                f"({', '.join(short)}): give the float retained by denomination.",
                denominations=short,
            )
    else:
        try:
            retained = drawers.parse_counts(float_retained)
        except drawers.DrawerError as exc:
            raise DepositError(exc.code, exc.message, **exc.extra) from None
        short = [d for d in DENOMINATIONS if retained[d] > counted[d]]
        if short:
            raise DepositError(
                "float_exceeds_count",
                "The float retained cannot hold more pieces than were counted "
                f"({', '.join(short)}).",
                denominations=short,
            )
    safe = session.scalar(
        select(func.coalesce(func.sum(DrawerMovement.amount_cents), 0)).where(
            DrawerMovement.drawer_session_id.in_([d.id for d in closed]),
            DrawerMovement.kind.in_([MovementKind.DROP.value, MovementKind.PICKUP.value]),
        )
    )
    return DepositFigures(closed, counted, retained, int(safe or 0), items)


# -- prepare, verify ---------------------------------------------------------------------------


def _staff(session: Session, user_id: object) -> tuple[int, frozenset[str]] | None:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        return None
    users = Base.metadata.tables["staff_users"]
    row = session.execute(
        select(users.c.roles, users.c.active).where(users.c.id == user_id)
    ).first()
    if row is None or not row.active:
        return None
    return user_id, frozenset(r.strip() for r in (row.roles or "").split(",") if r.strip())


def _bag(value: object) -> str:
    bag = value.strip() if isinstance(value, str) else ""
    if not BAG_NUMBER.match(bag):
        raise DepositError(
            "bad_bag_number",
            "The bag number is 1-32 letters, digits or dashes, as printed on the bag.",
        )
    return bag


def _reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON:
        raise DepositError("bad_reason", f"The reason must be text of up to {MAX_REASON} chars.")
    return value.strip() or None


def prepare_deposit(
    session: Session,
    office_id: int,
    day: dt.date,
    *,
    bag_number: object,
    prepared_by_id: int,
    actor: str,
    float_retained: object = None,
    amend_reason: object = None,
    now: dt.datetime | None = None,
) -> Deposit:
    """Prepare the day's deposit (or amend it: a new version, with a reason)."""
    bag = _bag(bag_number)
    reason = _reason(amend_reason)
    preparer = _staff(session, prepared_by_id)
    if preparer is None or not preparer[1] & PREPARER_ROLES:
        raise DepositError(
            "not_allowed_to_prepare", "A deposit is prepared by a finance user or a supervisor."
        )
    days.office(session, office_id)  # 404 for an unknown office
    if not isinstance(day, dt.date):
        raise DepositError("bad_date", "The business day must be a date.")
    drawers._serialize(session)
    found = figures(session, office_id, day, float_retained)
    previous = current_deposit(session, office_id, day)
    if previous is not None and not reason:
        raise DepositConflict(
            "deposit_exists",
            f"The deposit of {day.isoformat()} is already prepared (bag {previous.bag_number}); "
            "amending it needs a reason.",
        )
    now = now or utcnow()
    last_version = session.scalar(
        select(func.max(Deposit.version)).where(
            Deposit.office_id == office_id, Deposit.business_date == day
        )
    )
    if previous is not None:
        previous.status = DepositStatus.SUPERSEDED.value
        previous.superseded_at = now
        session.flush()
    checks = [c for c in found.items if c.kind == TenderKind.CHECK.value]
    orders = [c for c in found.items if c.kind == TenderKind.MONEY_ORDER.value]
    record = Deposit(
        office_id=office_id,
        business_date=day,
        version=(last_version or 0) + 1,
        status=DepositStatus.PREPARED.value,
        bag_number=bag,
        drawer_count=len(found.drawers),
        counted_cash_cents=found.counted_cents,
        float_retained_cents=found.retained_cents,
        safe_drops_cents=found.safe_drops_cents,
        cash_cents=found.cash_cents,
        checks_count=len(checks),
        checks_cents=sum(c.amount_cents for c in checks),
        money_orders_count=len(orders),
        money_orders_cents=sum(c.amount_cents for c in orders),
        total_cents=found.cash_cents + sum(c.amount_cents for c in found.items),
        prepared_by_id=prepared_by_id,
        prepared_at=now,
        amend_reason=reason,
    )
    record.cash = [
        DepositCash(denomination=d, counted=found.counted[d], retained=found.retained[d])
        for d in DENOMINATIONS
        if found.counted[d] or found.retained[d]
    ]
    record.items = [
        DepositItem(
            kind=c.kind,
            reference=c.reference,
            bank=c.bank,
            amount_cents=c.amount_cents,
            payment_id=c.payment_id,
            receipt_number=c.receipt_number,
        )
        for c in found.items
    ]
    session.add(record)
    session.flush()
    audit.record(
        session,
        "deposit.amended" if previous is not None else "deposit.prepared",
        actor=actor,
        entity="deposit",
        entity_id=record.id,
        office_id=office_id,
        details={
            "business_date": day.isoformat(),
            "version": record.version,
            "bag_number": bag,
            "cash_cents": record.cash_cents,
            "float_retained_cents": record.float_retained_cents,
            "safe_drops_cents": record.safe_drops_cents,
            "checks": [record.checks_count, record.checks_cents],
            "money_orders": [record.money_orders_count, record.money_orders_cents],
            "total_cents": record.total_cents,
            "replaces_version": previous.version if previous is not None else None,
            "reason": reason or "",
        },
    )
    return record


def verify_deposit(
    session: Session,
    deposit: Deposit,
    *,
    verified_by_id: int,
    actor: str,
    now: dt.datetime | None = None,
) -> Deposit:
    """The second person's check of the bag: a supervisor or finance user, not the preparer."""
    verifier = _staff(session, verified_by_id)
    if verifier is None or not verifier[1] & VERIFIER_ROLES:
        raise DepositError(
            "not_allowed_to_verify", "A deposit is verified by a supervisor or a finance user."
        )
    if verified_by_id == deposit.prepared_by_id:
        raise DepositError(
            "same_person", "The person who prepared the deposit cannot also verify it."
        )
    drawers._serialize(session)
    session.refresh(deposit)
    if deposit.status == DepositStatus.SUPERSEDED:
        raise DepositConflict("deposit_superseded", "This version was amended: verify the new one.")
    if deposit.status == DepositStatus.VERIFIED:
        raise DepositConflict("already_verified", "This deposit is already verified.")
    deposit.status = DepositStatus.VERIFIED.value
    deposit.verified_by_id = verified_by_id
    deposit.verified_at = now or utcnow()
    session.flush()
    audit.record(
        session,
        "deposit.verified",
        actor=actor,
        entity="deposit",
        entity_id=deposit.id,
        office_id=deposit.office_id,
        details={
            "business_date": deposit.business_date.isoformat(),
            "version": deposit.version,
            "bag_number": deposit.bag_number,
            "total_cents": deposit.total_cents,
            "prepared_by_id": deposit.prepared_by_id,
            "verified_by_id": verified_by_id,
        },
    )
    return deposit


def as_dict(deposit: Deposit) -> dict:
    """The deposit as JSON-ready data (API and slip)."""

    def iso(value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "id": deposit.id,
        "business_date": deposit.business_date.isoformat(),
        "version": deposit.version,
        "status": deposit.status,
        "bag_number": deposit.bag_number,
        "drawer_count": deposit.drawer_count,
        "counted_cash_cents": deposit.counted_cash_cents,
        "float_retained_cents": deposit.float_retained_cents,
        "safe_drops_cents": deposit.safe_drops_cents,
        "cash_cents": deposit.cash_cents,
        "cash": [
            {
                "denomination": c.denomination,
                "counted": c.counted,
                "retained": c.retained,
                "deposited": c.deposited,
                "deposited_cents": c.deposited_cents,
            }
            for c in deposit.cash
        ],
        "checks_count": deposit.checks_count,
        "checks_cents": deposit.checks_cents,
        "money_orders_count": deposit.money_orders_count,
        "money_orders_cents": deposit.money_orders_cents,
        "items": [
            {
                "kind": i.kind,
                "reference": i.reference,
                "bank": i.bank,
                "amount_cents": i.amount_cents,
                "receipt_number": i.receipt_number,
            }
            for i in deposit.items
        ],
        "total_cents": deposit.total_cents,
        "prepared_by_id": deposit.prepared_by_id,
        "prepared_at": iso(deposit.prepared_at),
        "verified_by_id": deposit.verified_by_id,
        "verified_at": iso(deposit.verified_at),
        "amend_reason": deposit.amend_reason,
    }


def retained_from_form(form: Mapping[str, str]) -> dict[str, str] | None:
    """``float_<denomination>`` form fields as a count, or None when all are left blank."""
    given = {d: form.get(f"float_{d}", "").strip() for d in DENOMINATIONS}
    if not any(given.values()):
        return None
    return {d: v or "0" for d, v in given.items()}
