"""Cash drawer sessions: open with a counted float, drops/pickups/paid-ins during the day, and
close with a blind count by denomination.

Expected cash in a drawer (the one formula, ``cash_summary``)::

    expected = float
             + cash tendered on the drawer's completed payments
             - change given on those payments
             - cash refunds paid out of the drawer
             + paid-ins
             - drops - pickups

A drop is cash the cashier takes out to the safe; a pickup is cash a supervisor collects from
the drawer; a paid-in is cash put into the drawer (more change from the safe). Counts are by
denomination (``DENOMINATIONS``: bills in dollars, ``bill_20``; coins in cents, ``coin_25``).

Completed payments are succeeded, partially refunded and refunded ones (the cash came in;
what went back is counted as a refund). A voided payment gave its cash back at once and counts
for nothing. Checks and money orders are kept apart: listed and compared by count and total.

The close is blind: ``close_drawer`` takes the count before anything about the expected figure
is computed for the caller, and whatever it refuses does not depend on that figure. A count
off by more than the tolerance still closes the drawer (the first count is the one that
counts, so nobody can probe for the expected figure by recounting) but stays flagged until a
supervisor approves it. Reopening needs a supervisor. Every change is audited. Functions work
in the caller's transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, func, or_, select, text
from sqlalchemy.orm import Session

from payments import audit, days
from payments.db import OFFICE_TZ, Base, business_date, utcnow
from payments.models import (
    DENOMINATIONS,
    CountPhase,
    DrawerCount,
    DrawerMovement,
    DrawerSession,
    DrawerStatus,
    MovementKind,
    Payment,
    Refund,
    TenderKind,
    TenderLine,
)
from payments.money import format_amount
from payments.states import COMPLETED, IN_FLIGHT, PaymentError

DEFAULT_TOLERANCE_CENTS = 500
MAX_PIECES = 10_000  # per denomination: more than any drawer holds
MAX_MOVEMENT_CENTS = 10_000_000
MAX_CHECKS = 10_000
MAX_CHECKS_CENTS = 100_000_000
MAX_REASON = 500
NON_CASH = (TenderKind.CHECK.value, TenderKind.MONEY_ORDER.value)


class DrawerError(PaymentError):
    status = 400


class DrawerConflict(DrawerError):
    status = 409


class DrawerNotFound(DrawerError):
    status = 404


# -- counts ----------------------------------------------------------------------------------


def _whole(value: object) -> int | None:
    """An int from an int or a string of ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.isascii() and stripped.lstrip("-").isdigit() and len(stripped) <= 9:
            return int(stripped)
    return None


def parse_counts(raw: object) -> dict[str, int]:
    """Validate a count by denomination: ``{"bill_20": 5, "coin_25": 40}``. Denominations
    left out count zero. Refuses unknown denominations, negative counts, letters, fractions."""
    if not isinstance(raw, Mapping):
        raise DrawerError(
            "bad_counts", "Give the count as denomination -> number of pieces, e.g. bill_20: 5."
        )
    counts = dict.fromkeys(DENOMINATIONS, 0)
    for key, value in raw.items():
        if key not in DENOMINATIONS:
            raise DrawerError(
                "unknown_denomination",
                f"Unknown denomination {str(key)[:20]!r}; use one of {', '.join(DENOMINATIONS)}.",
                denomination=str(key)[:20],
            )
        pieces = _whole(value)
        if pieces is None:
            raise DrawerError(
                "bad_count",
                f"The count for {key} must be a whole number of pieces.",
                denomination=key,
            )
        if pieces < 0:
            raise DrawerError(
                "negative_count", f"The count for {key} cannot be negative.", denomination=key
            )
        if pieces > MAX_PIECES:
            raise DrawerError(
                "count_too_large",
                f"The count for {key} cannot be more than {MAX_PIECES}.",
                denomination=key,
            )
        counts[key] = pieces
    return counts


def count_value(counts: Mapping[str, int]) -> int:
    """The value in cents of a count by denomination (the one place this is computed)."""
    return sum(DENOMINATIONS[d] * n for d, n in counts.items())


def counts_of(drawer: DrawerSession, phase: str) -> dict[str, int]:
    """A drawer's stored count for ``open`` or ``close``, every denomination present."""
    counts = dict.fromkeys(DENOMINATIONS, 0)
    for row in drawer.counts:
        if row.phase == phase:
            counts[row.denomination] = row.count
    return counts


def _store_counts(drawer: DrawerSession, phase: str, counts: Mapping[str, int]) -> None:
    drawer.counts.extend(
        DrawerCount(phase=phase, denomination=d, count=n) for d, n in counts.items() if n
    )


# -- helpers ---------------------------------------------------------------------------------


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _office_tz(session: Session, office_id: int) -> ZoneInfo:
    offices = _table("offices")
    tz = session.execute(select(offices.c.timezone).where(offices.c.id == office_id)).scalar()
    return ZoneInfo(tz or OFFICE_TZ.key)


def _serialize(session: Session) -> None:
    """Take the audit log's lock first, as payments do (one lock order; see payments.service)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit._PG_LOCK_KEY})


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or len(key) > 128 or not key.isprintable():
        raise DrawerError("bad_idempotency_key", "An idempotency key of 1-128 characters.")
    return key


def _check_day_open(session: Session, office_id: int, day: dt.date) -> None:
    """A closed business day takes no drawer change (``day_closed``)."""
    days.ensure_day_open(session, office_id, day)


def _require_open(drawer: DrawerSession) -> None:
    if drawer.status != DrawerStatus.OPEN:
        raise DrawerConflict("drawer_closed", "This drawer is closed.")


def _check_supervisor(session: Session, supervisor_id: object, drawer_cashier: int | None) -> int:
    """An active supervisor, and not the drawer's own cashier (four eyes)."""
    users = _table("staff_users")
    if isinstance(supervisor_id, bool) or not isinstance(supervisor_id, int):
        raise DrawerError("supervisor_required", "A supervisor must approve this.")
    row = session.execute(
        select(users.c.roles, users.c.active).where(users.c.id == supervisor_id)
    ).first()
    if row is None or not row.active or "supervisor" not in (row.roles or "").split(","):
        raise DrawerError("not_a_supervisor", "Approval needs an active supervisor.")
    if supervisor_id == drawer_cashier:
        raise DrawerError(
            "supervisor_is_cashier", "Another supervisor must approve the drawer you ran."
        )
    return supervisor_id


def get_drawer(session: Session, drawer_id: object, *, lock: bool = False) -> DrawerSession:
    if isinstance(drawer_id, bool) or not isinstance(drawer_id, int):
        raise DrawerNotFound("drawer_not_found", "No drawer with that id.")
    stmt = select(DrawerSession).where(DrawerSession.id == drawer_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    drawer = session.scalars(stmt).first()
    if drawer is None:
        raise DrawerNotFound("drawer_not_found", "No drawer with that id.")
    return drawer


def open_drawer_at(session: Session, station_id: int | None) -> DrawerSession | None:
    """The drawer open at a station, if any."""
    if station_id is None:
        return None
    return session.scalars(
        select(DrawerSession).where(
            DrawerSession.station_id == station_id, DrawerSession.status == DrawerStatus.OPEN
        )
    ).first()


# -- open ------------------------------------------------------------------------------------


def open_drawer(
    session: Session,
    *,
    office_id: int,
    station_id: int,
    cashier_id: int,
    counts: object,
    actor: str,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[DrawerSession, bool]:
    """Open a drawer at a counter station with a float counted by denomination. One open
    drawer per station. Returns (drawer, replayed)."""
    key = _check_key(key)
    parsed = parse_counts(counts)
    _serialize(session)
    if key is not None:
        existing = session.scalars(
            select(DrawerSession).where(DrawerSession.open_key == key)
        ).first()
        if existing is not None:
            if existing.station_id != station_id or counts_of(existing, CountPhase.OPEN) != parsed:
                raise DrawerConflict(
                    "idempotency_conflict", "This idempotency key was already used differently."
                )
            return existing, True
    stations = _table("stations")
    station = session.execute(
        select(stations.c.office_id, stations.c.kind, stations.c.active).where(
            stations.c.id == station_id
        )
    ).first()
    if station is None or station.office_id != office_id or not station.active:
        raise DrawerNotFound("station_not_found", "No such station in this office.")
    if station.kind != "counter":
        raise DrawerError("not_a_counter", "Cash drawers belong to counter stations.")
    now = now or utcnow()
    day = business_date(now, _office_tz(session, office_id))
    _check_day_open(session, office_id, day)
    current = open_drawer_at(session, station_id)
    if current is not None:
        raise DrawerConflict(
            "drawer_already_open",
            "A drawer is already open at this station; close it first.",
            drawer_id=current.id,
        )
    drawer = DrawerSession(
        office_id=office_id,
        station_id=station_id,
        cashier_id=cashier_id,
        business_date=day,
        status=DrawerStatus.OPEN.value,
        opened_at=now,
        float_cents=count_value(parsed),
        open_key=key,
    )
    _store_counts(drawer, CountPhase.OPEN, parsed)
    session.add(drawer)
    session.flush()
    audit.record(
        session,
        "drawer.opened",
        actor=actor,
        entity="drawer",
        entity_id=drawer.id,
        office_id=office_id,
        details={
            "station_id": station_id,
            "cashier_id": cashier_id,
            "float_cents": drawer.float_cents,
            "counts": {d: n for d, n in parsed.items() if n},
        },
    )
    return drawer, False


# -- movements -------------------------------------------------------------------------------


def record_movement(
    session: Session,
    drawer: DrawerSession,
    *,
    kind: object,
    amount_cents: object,
    reason: object,
    staff_user_id: int | None,
    actor: str,
    key: str,
    now: dt.datetime | None = None,
) -> tuple[DrawerMovement, bool]:
    """A drop or pickup (cash out) or a paid-in (cash in) with a reason. Returns (movement,
    replayed)."""
    if _check_key(key) is None:
        raise DrawerError("bad_idempotency_key", "An idempotency key is required.")
    if kind not in {k.value for k in MovementKind}:
        raise DrawerError("bad_kind", "kind must be drop, pickup or paid_in.")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise DrawerError("bad_amount", "The amount must be a whole number of cents above 0.")
    if amount_cents > MAX_MOVEMENT_CENTS:
        raise DrawerError(
            "amount_too_large",
            f"The amount cannot be more than {format_amount(MAX_MOVEMENT_CENTS)}.",
        )
    if not isinstance(reason, str) or not reason.strip():
        raise DrawerError("reason_required", "Give a reason for the drop, pickup or paid-in.")
    if len(reason) > MAX_REASON:
        raise DrawerError("reason_too_long", f"The reason can be at most {MAX_REASON} characters.")
    _serialize(session)
    existing = session.scalars(
        select(DrawerMovement).where(DrawerMovement.idempotency_key == key)
    ).first()
    if existing is not None:
        if (existing.drawer_session_id, existing.kind, existing.amount_cents) != (
            drawer.id,
            kind,
            amount_cents,
        ):
            raise DrawerConflict(
                "idempotency_conflict", "This idempotency key was already used differently."
            )
        return existing, True
    _require_open(drawer)
    _check_day_open(session, drawer.office_id, drawer.business_date)
    movement = DrawerMovement(
        kind=kind,
        amount_cents=amount_cents,
        reason=reason.strip(),
        staff_user_id=staff_user_id,
        actor=actor,
        idempotency_key=key,
        created_at=now or utcnow(),
    )
    drawer.movements.append(movement)
    session.flush()
    audit.record(
        session,
        f"drawer.{kind}",
        actor=actor,
        entity="drawer",
        entity_id=drawer.id,
        office_id=drawer.office_id,
        details={"amount_cents": amount_cents, "reason": movement.reason},
    )
    return movement, False


# -- expected --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CashSummary:
    float_cents: int
    cash_in_cents: int
    change_out_cents: int
    cash_refunds_cents: int
    paid_in_cents: int
    drops_cents: int
    pickups_cents: int

    @property
    def expected_cents(self) -> int:
        return (
            self.float_cents
            + self.cash_in_cents
            - self.change_out_cents
            - self.cash_refunds_cents
            + self.paid_in_cents
            - self.drops_cents
            - self.pickups_cents
        )


_DONE = [s.value for s in COMPLETED]


def cash_summary(session: Session, drawer: DrawerSession) -> CashSummary:
    """Where the expected cash comes from (see the module docstring). Never show this to
    the drawer's cashier before the drawer is closed."""
    session.flush()
    cash_in = session.scalar(
        select(func.coalesce(func.sum(TenderLine.amount_cents), 0))
        .join(Payment, TenderLine.payment_id == Payment.id)
        .where(
            Payment.drawer_session_id == drawer.id,
            Payment.status.in_(_DONE),
            TenderLine.kind == TenderKind.CASH.value,
        )
    )
    change = session.scalar(
        select(func.coalesce(func.sum(Payment.change_cents), 0)).where(
            Payment.drawer_session_id == drawer.id, Payment.status.in_(_DONE)
        )
    )
    refunds = session.scalar(
        select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
            Refund.drawer_session_id == drawer.id,
            Refund.kind == TenderKind.CASH.value,
            Refund.status == "succeeded",
        )
    )
    moved = dict(
        session.execute(
            select(DrawerMovement.kind, func.sum(DrawerMovement.amount_cents))
            .where(DrawerMovement.drawer_session_id == drawer.id)
            .group_by(DrawerMovement.kind)
        ).all()
    )
    return CashSummary(
        float_cents=drawer.float_cents,
        cash_in_cents=int(cash_in),
        change_out_cents=int(change),
        cash_refunds_cents=int(refunds),
        paid_in_cents=int(moved.get(MovementKind.PAID_IN.value, 0)),
        drops_cents=int(moved.get(MovementKind.DROP.value, 0)),
        pickups_cents=int(moved.get(MovementKind.PICKUP.value, 0)),
    )


def expected_cash(session: Session, drawer: DrawerSession) -> int:
    return cash_summary(session, drawer).expected_cents


@dataclass(frozen=True)
class RecordedCheck:
    payment_id: str
    receipt_number: str | None
    kind: str  # check or money_order
    reference: str | None
    bank: str | None
    amount_cents: int


def recorded_checks(session: Session, drawer: DrawerSession) -> list[RecordedCheck]:
    """The checks and money orders the drawer's completed payments took."""
    rows = session.execute(
        select(
            Payment.id,
            Payment.receipt_number,
            TenderLine.kind,
            TenderLine.reference,
            TenderLine.bank,
            TenderLine.amount_cents,
        )
        .join(Payment, TenderLine.payment_id == Payment.id)
        .where(
            Payment.drawer_session_id == drawer.id,
            Payment.status.in_(_DONE),
            TenderLine.kind.in_(NON_CASH),
        )
        .order_by(Payment.completed_at, TenderLine.id)
    ).all()
    return [RecordedCheck(*row) for row in rows]


def payments_in_flight(session: Session, drawer: DrawerSession) -> list[str]:
    """Ids of payments at the drawer's station (or linked to it) that may still take money."""
    return list(
        session.scalars(
            select(Payment.id).where(
                or_(
                    Payment.station_id == drawer.station_id,
                    Payment.drawer_session_id == drawer.id,
                ),
                Payment.status.in_([s.value for s in IN_FLIGHT]),
            )
        )
    )


# -- close, approve, reopen ------------------------------------------------------------------


def _count_field(value: object, name: str, maximum: int) -> int:
    number = _whole(value)
    if number is None:
        raise DrawerError(f"bad_{name}", f"{name} must be a whole number.")
    if number < 0:
        raise DrawerError(f"bad_{name}", f"{name} cannot be negative.")
    if number > maximum:
        raise DrawerError(f"bad_{name}", f"{name} cannot be more than {maximum}.")
    return number


def close_drawer(
    session: Session,
    drawer: DrawerSession,
    *,
    counts: object,
    closed_by_id: int | None,
    actor: str,
    checks_count: object = 0,
    checks_cents: object = 0,
    supervisor_id: int | None = None,
    tolerance_cents: int = DEFAULT_TOLERANCE_CENTS,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[DrawerSession, bool]:
    """Close with a blind count by denomination (and the checks/money orders counted).

    Everything that can refuse the close is checked before the expected figure is computed,
    and none of it depends on that figure. Over/short beyond ``tolerance_cents`` either or is
    approved by ``supervisor_id`` (checked whether or not it turns out to be needed) or leaves
    the drawer closed but awaiting approval. Returns (drawer, replayed).
    """
    key = _check_key(key)
    parsed = parse_counts(counts)
    n_checks = _count_field(checks_count, "checks_count", MAX_CHECKS)
    checks_total = _count_field(checks_cents, "checks_cents", MAX_CHECKS_CENTS)
    if supervisor_id is not None:
        _check_supervisor(session, supervisor_id, drawer.cashier_id)
    _serialize(session)
    if drawer.status == DrawerStatus.CLOSED:
        if key is not None and drawer.close_key == key:
            return drawer, True
        raise DrawerConflict("drawer_closed", "This drawer is already closed.")
    if key is not None:
        other = session.scalar(select(DrawerSession.id).where(DrawerSession.close_key == key))
        if other is not None:
            raise DrawerConflict(
                "idempotency_conflict", "This idempotency key was already used differently."
            )
    in_flight = payments_in_flight(session, drawer)
    if in_flight:
        raise DrawerConflict(
            "payment_in_flight",
            "A payment at this station is still in progress: finish or cancel it first.",
            payment_ids=in_flight,
        )
    # The count is fixed from here on; only now is the expected figure worked out.
    summary = cash_summary(session, drawer)
    checks = recorded_checks(session, drawer)
    counted = count_value(parsed)
    over_short = counted - summary.expected_cents
    drawer.status = DrawerStatus.CLOSED.value
    drawer.closed_at = now or utcnow()
    drawer.closed_by_id = closed_by_id
    drawer.counted_cents = counted
    drawer.expected_cents = summary.expected_cents
    drawer.over_short_cents = over_short
    drawer.checks_expected_count = len(checks)
    drawer.checks_expected_cents = sum(c.amount_cents for c in checks)
    drawer.checks_counted_count = n_checks
    drawer.checks_counted_cents = checks_total
    drawer.approval_required = abs(over_short) > tolerance_cents
    drawer.close_key = key
    if drawer.approval_required and supervisor_id is not None:
        drawer.approved_by_id = supervisor_id
        drawer.approved_at = drawer.closed_at
    _store_counts(drawer, CountPhase.CLOSE, parsed)
    session.flush()
    audit.record(
        session,
        "drawer.closed",
        actor=actor,
        entity="drawer",
        entity_id=drawer.id,
        office_id=drawer.office_id,
        details={
            "counted_cents": counted,
            "expected_cents": summary.expected_cents,
            "over_short_cents": over_short,
            "counts": {d: n for d, n in parsed.items() if n},
            "checks_counted": [n_checks, checks_total],
            "checks_recorded": [len(checks), drawer.checks_expected_cents],
            "tolerance_cents": tolerance_cents,
            "approval_required": drawer.approval_required,
            "approved_by_id": drawer.approved_by_id,
        },
    )
    return drawer, False


def awaiting_approval(drawer: DrawerSession) -> bool:
    return drawer.approval_required and drawer.approved_by_id is None


def approve_drawer(
    session: Session,
    drawer: DrawerSession,
    *,
    supervisor_id: int | None,
    actor: str,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> DrawerSession:
    """A supervisor accepts a closed drawer's over/short beyond the tolerance."""
    _check_supervisor(session, supervisor_id, drawer.cashier_id)
    if drawer.status != DrawerStatus.CLOSED:
        raise DrawerConflict("drawer_open", "Only a closed drawer can be approved.")
    if not awaiting_approval(drawer):
        return drawer
    _serialize(session)
    drawer.approved_by_id = supervisor_id
    drawer.approved_at = now or utcnow()
    audit.record(
        session,
        "drawer.approved",
        actor=actor,
        entity="drawer",
        entity_id=drawer.id,
        office_id=drawer.office_id,
        details={
            "supervisor_id": supervisor_id,
            "over_short_cents": drawer.over_short_cents,
            "note": (note or "")[:MAX_REASON],
        },
    )
    return drawer


def reopen_drawer(
    session: Session,
    drawer: DrawerSession,
    *,
    supervisor_id: int | None,
    actor: str,
    reason: object,
) -> DrawerSession:
    """Reopen a closed drawer (a recount, a late correction). Needs a supervisor and a reason;
    the earlier close stays in the audit log."""
    _check_supervisor(session, supervisor_id, drawer.cashier_id)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise DrawerError("reason_required", "Give a reason (up to 500 characters) to reopen.")
    if drawer.status != DrawerStatus.CLOSED:
        raise DrawerConflict("drawer_open", "This drawer is open.")
    _serialize(session)
    _check_day_open(session, drawer.office_id, drawer.business_date)
    current = open_drawer_at(session, drawer.station_id)
    if current is not None:
        raise DrawerConflict(
            "drawer_already_open",
            "Another drawer is open at this station; close it first.",
            drawer_id=current.id,
        )
    previous = {
        "counted_cents": drawer.counted_cents,
        "expected_cents": drawer.expected_cents,
        "over_short_cents": drawer.over_short_cents,
        "close_counts": {d: n for d, n in counts_of(drawer, CountPhase.CLOSE).items() if n},
        "approved_by_id": drawer.approved_by_id,
    }
    session.execute(
        delete(DrawerCount).where(
            DrawerCount.drawer_session_id == drawer.id, DrawerCount.phase == CountPhase.CLOSE
        )
    )
    session.expire(drawer, ["counts"])
    for name in (
        "closed_at",
        "closed_by_id",
        "counted_cents",
        "expected_cents",
        "over_short_cents",
        "checks_expected_count",
        "checks_expected_cents",
        "checks_counted_count",
        "checks_counted_cents",
        "approved_by_id",
        "approved_at",
        "close_key",
    ):
        setattr(drawer, name, None)
    drawer.approval_required = False
    drawer.status = DrawerStatus.OPEN.value
    session.flush()
    audit.record(
        session,
        "drawer.reopened",
        actor=actor,
        entity="drawer",
        entity_id=drawer.id,
        office_id=drawer.office_id,
        details={"supervisor_id": supervisor_id, "reason": reason.strip(), "previous": previous},
    )
    return drawer


# -- links from payments ---------------------------------------------------------------------


def drawer_for_tenders(session: Session, station_id: int | None, kinds: set[str]) -> int | None:
    """The open drawer at ``station_id`` when a payment brings cash, checks or money orders."""
    if station_id is None or not kinds & {TenderKind.CASH.value, *NON_CASH}:
        return None
    drawer = open_drawer_at(session, station_id)
    return drawer.id if drawer is not None else None


def closed_drawer_of(session: Session, payment: Payment) -> DrawerSession | None:
    """The payment's drawer when it is already closed (its figures are final)."""
    if payment.drawer_session_id is None:
        return None
    drawer = session.get(DrawerSession, payment.drawer_session_id)
    return drawer if drawer is not None and drawer.status == DrawerStatus.CLOSED else None
