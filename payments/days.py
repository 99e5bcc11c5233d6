"""The business day of an office: open, closing, closed (locked) and reopened.

A day closes only when nothing is left hanging: every cash drawer closed, no payment in flight
and no CIS posting from before the day's end still undelivered. Finance may close anyway with
an explicit exception text, which is audited with what was left open. A closed day takes no
payment, void or refund; late corrections go into the next open day. Reopening takes a finance
user and a different supervisor. Functions work inside the caller's transaction.

"Closing" is finance's checklist state (begin_closing): it shows what still holds the day and
changes nothing for payments, drawers or postings; the lock comes only at "closed".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from payments import audit
from payments.db import OFFICE_TZ, Base, business_date, utcnow
from payments.models import BusinessDay, DayStatus, DrawerSession, DrawerStatus, Payment
from payments.outbox import PENDING, OutboxMessage
from payments.states import IN_FLIGHT, PaymentError

MAX_EXCEPTION = 1000
# The day's posting batch (payments.posting_batch), made by the close itself: it never holds
# a close back; its delivery and acknowledgment are followed on the finance postings page.
POSTING_BATCH_TOPIC = "cis.posting_batch"
LOCKED = frozenset({DayStatus.CLOSED})
# How far back a report, reconciliation or page may be asked for (about ten years).
MAX_DAYS_BACK = 3660


class DayError(PaymentError):
    status = 400


class OfficeNotFound(DayError):
    status = 404


class DayClosed(PaymentError):
    status = 409

    def __init__(self, office_id: int, day: dt.date):
        super().__init__(
            "day_closed",
            f"The business day {day.isoformat()} is closed: nothing more can go into it.",
            office_id=office_id,
            business_date=day.isoformat(),
        )


class DayNotReady(PaymentError):
    """Closing was refused; ``blockers`` says what is still open."""

    status = 409

    def __init__(self, blockers: list[Blocker]):
        what = "; ".join(b.message for b in blockers)
        super().__init__(
            "day_not_ready",
            f"The day cannot close yet: {what}. Resolve these or close with an exception.",
            blockers=[b.as_dict() for b in blockers],
        )
        self.blockers = blockers


@dataclass(frozen=True)
class Blocker:
    code: str  # open_drawers | payments_in_flight | cis_undelivered
    count: int
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "count": self.count, "message": self.message}


@dataclass(frozen=True)
class Office:
    id: int
    code: str
    name: str
    tz: ZoneInfo


@dataclass(frozen=True)
class CloseOutcome:
    day: BusinessDay
    blockers: list[Blocker]  # what the exception covered (empty for a clean close)
    already_closed: bool


def office(session: Session, office_id: int) -> Office:
    offices = Base.metadata.tables["offices"]
    row = session.execute(
        select(offices.c.id, offices.c.code, offices.c.name, offices.c.timezone).where(
            offices.c.id == office_id
        )
    ).first()
    if row is None:
        raise OfficeNotFound("office_not_found", "Unknown office.")
    return Office(row.id, row.code, row.name, ZoneInfo(row.timezone or OFFICE_TZ.key))


def office_by_code(session: Session, code: str) -> Office:
    offices = Base.metadata.tables["offices"]
    office_id = session.scalar(select(offices.c.id).where(offices.c.code == code))
    if office_id is None:
        raise OfficeNotFound("office_not_found", f"No office with code {code!r}.")
    return office(session, office_id)


def day_bounds(day: dt.date, tz: ZoneInfo = OFFICE_TZ) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants where the office's local calendar day starts and ends."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def get_day(session: Session, office_id: int, day: dt.date) -> BusinessDay | None:
    return session.scalars(
        select(BusinessDay).where(
            BusinessDay.office_id == office_id, BusinessDay.business_date == day
        )
    ).first()


def is_locked(session: Session, office_id: int, day: dt.date) -> bool:
    record = get_day(session, office_id, day)
    return record is not None and record.status in LOCKED


def ensure_day_open(session: Session, office_id: int, day: dt.date) -> None:
    """Refuse (``day_closed``) anything that would land in a closed business day."""
    if is_locked(session, office_id, day):
        raise DayClosed(office_id, day)


def next_open_date(session: Session, office_id: int, day: dt.date) -> dt.date:
    """``day`` itself, or the first later day that is not closed: where a late correction goes."""
    closed = set(
        session.scalars(
            select(BusinessDay.business_date).where(
                BusinessDay.office_id == office_id,
                BusinessDay.business_date >= day,
                BusinessDay.status.in_([s.value for s in LOCKED]),
            )
        )
    )
    while day in closed:
        day += dt.timedelta(days=1)
    return day


# -- what keeps a day from closing ---------------------------------------------------------------


def open_drawer_count(session: Session, office_id: int, day: dt.date) -> int:
    """Cash drawers of the office and day not yet closed."""
    return (
        session.scalar(
            select(func.count())
            .select_from(DrawerSession)
            .where(
                DrawerSession.office_id == office_id,
                DrawerSession.business_date == day,
                DrawerSession.status == DrawerStatus.OPEN.value,
            )
        )
        or 0
    )


def in_flight_count(session: Session, office_id: int, day: dt.date, tz: ZoneInfo) -> int:
    """Payments of the office started during the day that have not finished. Counted for all
    offices and picked out after: that keeps the (status, created_at) index in use, so the
    cost follows the few payments in flight, not the office's history."""
    start, end = day_bounds(day, tz)
    rows = session.execute(
        select(Payment.office_id, func.count())
        .where(
            Payment.status.in_([s.value for s in IN_FLIGHT]),
            Payment.created_at >= start,
            Payment.created_at < end,
        )
        .group_by(Payment.office_id)
    ).all()
    return next((int(n) for office, n in rows if office == office_id), 0)


def undelivered_cis_count(session: Session, office_id: int, before: dt.datetime) -> int:
    """The office's CIS postings written before ``before`` and still undelivered (and any
    that name no office). Another office's undelivered postings do not hold this one's close."""
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic.like("cis.%"),
                OutboxMessage.topic != POSTING_BATCH_TOPIC,
                OutboxMessage.status == PENDING,
                OutboxMessage.created_at < before,
                or_(OutboxMessage.office_id == office_id, OutboxMessage.office_id.is_(None)),
            )
        )
        or 0
    )


def counted(n: int, noun: str) -> str:
    """ "1 cash drawer", "2 cash drawers": a count for people to read."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def close_blockers(session: Session, office_id: int, day: dt.date) -> list[Blocker]:
    tz = office(session, office_id).tz
    _, end = day_bounds(day, tz)
    found = []
    drawers = open_drawer_count(session, office_id, day)
    if drawers:
        found.append(
            Blocker("open_drawers", drawers, f"{counted(drawers, 'cash drawer')} still open")
        )
    flying = in_flight_count(session, office_id, day, tz)
    if flying:
        found.append(
            Blocker("payments_in_flight", flying, f"{counted(flying, 'payment')} still in flight")
        )
    cis = undelivered_cis_count(session, office_id, end)
    if cis:
        found.append(
            Blocker("cis_undelivered", cis, f"{counted(cis, 'CIS posting')} not yet delivered")
        )
    return found


# -- close and reopen ----------------------------------------------------------------------------


def _serialize(session: Session) -> None:
    """Same lock as every payment writer (see payments.service._serialize): a payment cannot
    start between the in-flight check and the close."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit._PG_LOCK_KEY})


def _clean_text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_EXCEPTION:
        raise DayError(f"bad_{field}", f"The {field} must be text of up to {MAX_EXCEPTION} chars.")
    return value.strip() or None


def _require_begun(day: dt.date, where: Office, now: dt.datetime) -> None:
    if not isinstance(day, dt.date) or day > business_date(now, where.tz):
        raise DayError("day_not_over", "A business day cannot be closed before it has begun.")


def _day_record(session: Session, office_id: int, day: dt.date, now: dt.datetime) -> BusinessDay:
    """The office's record of ``day``, made (open) if the day has none yet."""
    record = get_day(session, office_id, day)
    if record is None:
        record = BusinessDay(office_id=office_id, business_date=day, opened_at=now)
        session.add(record)
    return record


def _audit_day(
    session: Session, action: str, where: Office, day: dt.date, actor: str, **details: object
) -> None:
    """Audit a change of the day's status (its changed row flushed first)."""
    session.flush()
    audit.record(
        session,
        action,
        actor=actor,
        entity="business_day",
        entity_id=f"{where.code}:{day.isoformat()}",
        office_id=where.id,
        details={"business_date": day.isoformat(), **details},
    )


def close_day(
    session: Session,
    office_id: int,
    day: dt.date,
    actor: str,
    exception: str | None = None,
    *,
    closed_by_id: int | None = None,
    now: dt.datetime | None = None,
) -> CloseOutcome:
    """Close and lock an office's business day. Refused (``day_not_ready``) while something is
    open, unless ``exception`` explains why finance closes anyway. Closing a closed day again
    changes nothing."""
    exception = _clean_text(exception, "exception")
    now = now or utcnow()
    where = office(session, office_id)
    _require_begun(day, where, now)
    _serialize(session)
    existing = get_day(session, office_id, day)
    if existing is not None and existing.status == DayStatus.CLOSED:
        return CloseOutcome(existing, [], already_closed=True)
    blockers = close_blockers(session, office_id, day)
    if blockers and not exception:
        raise DayNotReady(blockers)
    record = existing or _day_record(session, office_id, day, now)
    previous = record.status or DayStatus.OPEN.value
    record.status = DayStatus.CLOSED.value
    record.closed_at = now
    record.closed_by_id = closed_by_id
    if exception:
        record.notes = exception
    _audit_day(
        session,
        "day.closed_with_exception" if blockers else "day.closed",
        where,
        day,
        actor,
        previous_status=previous,
        exception=exception or "",
        blockers=[b.as_dict() for b in blockers],
    )
    from payments import posting_batch  # imported here: it imports this module

    posting_batch.create_for_close(session, office_id, day, actor=actor, now=now)
    return CloseOutcome(record, blockers, already_closed=False)


def begin_closing(
    session: Session, office_id: int, day: dt.date, actor: str, *, now: dt.datetime | None = None
) -> tuple[BusinessDay, list[Blocker]]:
    """Mark the day "closing" (audited) and return what still blocks its close. Payments go on
    as before; only ``close_day`` locks. Beginning again while closing changes nothing."""
    now = now or utcnow()
    where = office(session, office_id)
    _require_begun(day, where, now)
    record = _day_record(session, office_id, day, now)
    if record.status == DayStatus.CLOSED:
        raise DayError("day_closed", "The day is already closed.")
    blockers = close_blockers(session, office_id, day)
    if record.status == DayStatus.CLOSING:
        return record, blockers
    previous = record.status or DayStatus.OPEN.value
    record.status = DayStatus.CLOSING.value
    _audit_day(
        session,
        "day.closing",
        where,
        day,
        actor,
        previous_status=previous,
        blockers=[b.as_dict() for b in blockers],
    )
    return record, blockers


def _staff_roles(session: Session, user_id: int) -> frozenset[str] | None:
    users = Base.metadata.tables["staff_users"]
    row = session.execute(
        select(users.c.roles, users.c.active).where(users.c.id == user_id)
    ).first()
    if row is None or not row.active:
        return None
    return frozenset(r.strip() for r in (row.roles or "").split(",") if r.strip())


def reopen_day(
    session: Session,
    office_id: int,
    day: dt.date,
    *,
    finance_user_id: int,
    supervisor_id: int,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> BusinessDay:
    """Reopen a closed day: a finance user and a supervisor, two different people, and why."""
    reason = _clean_text(reason, "reason")
    if not reason:
        raise DayError("reason_required", "Say why the day is reopened.")
    if not finance_user_id or not supervisor_id:
        raise DayError("two_people_required", "Reopening needs a finance user and a supervisor.")
    if finance_user_id == supervisor_id:
        raise DayError(
            "two_people_required", "The finance user and the supervisor must be two people."
        )
    if "finance" not in (_staff_roles(session, finance_user_id) or ()):
        raise DayError("not_finance", "The first person must be an active finance user.")
    if "supervisor" not in (_staff_roles(session, supervisor_id) or ()):
        raise DayError("not_supervisor", "The second person must be an active supervisor.")
    where = office(session, office_id)
    _serialize(session)
    record = get_day(session, office_id, day)
    if record is None or record.status != DayStatus.CLOSED:
        raise DayError("day_not_closed", "Only a closed day can be reopened.")
    record.status = DayStatus.REOPENED.value
    _audit_day(
        session,
        "day.reopened",
        where,
        day,
        actor,
        finance_user_id=finance_user_id,
        supervisor_id=supervisor_id,
        reason=reason,
        at=(now or utcnow()).isoformat(),
    )
    return record
