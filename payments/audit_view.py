"""Reading the audit log: filter by business-day range, action, actor and subject, a page at a
time, newest first. (Writing and verifying the chain live in ``payments.audit``.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from payments.audit import AuditEvent
from payments.db import OFFICE_TZ
from payments.states import PaymentError

PER_PAGE = 50
MAX_PAGE = 100_000
MAX_TEXT = 120


class AuditFilterError(PaymentError):
    status = 400


@dataclass(frozen=True)
class AuditFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("deposit.")
    actor: str | None = None  # exact, any case
    subject: str | None = None  # entity ("deposit"), entity id ("12") or both ("deposit:12")

    def as_args(self) -> dict[str, str]:
        out = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "action": self.action or "",
            "actor": self.actor or "",
            "subject": self.subject or "",
        }
        return {k: v for k, v in out.items() if v}


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise AuditFilterError("bad_date", f"The {name} date must be YYYY-MM-DD.")


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT or not value.isprintable():
        raise AuditFilterError(f"bad_{name}", f"The {name} filter is up to {MAX_TEXT} characters.")
    return value or None


def parse_filter(args: dict[str, str | None]) -> AuditFilter:
    """Validate filters given as text (a query string)."""
    date_from = _date(args.get("from"), "from")
    date_to = _date(args.get("to"), "to")
    if date_from and date_to and date_from > date_to:
        raise AuditFilterError("bad_range", "The 'from' date is after the 'to' date.")
    return AuditFilter(
        date_from,
        date_to,
        _text(args.get("action"), "action"),
        _text(args.get("actor"), "actor"),
        _text(args.get("subject"), "subject"),
    )


def parse_page(value: str | None) -> int:
    if not value:
        return 1
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise AuditFilterError("bad_page", "The page is a whole number from 1.")
    return int(value)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def search(
    session: Session,
    filters: AuditFilter,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    tz: ZoneInfo = OFFICE_TZ,
) -> AuditPage:
    conditions = []
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), tzinfo=tz)
        conditions.append(AuditEvent.at >= start.astimezone(dt.UTC))
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        conditions.append(AuditEvent.at < end.astimezone(dt.UTC))
    if filters.action:
        if filters.action.endswith("."):
            conditions.append(AuditEvent.action.startswith(filters.action, autoescape=True))
        else:
            conditions.append(AuditEvent.action == filters.action)
    if filters.actor:
        conditions.append(func.lower(AuditEvent.actor) == filters.actor.lower())
    if filters.subject:
        subject = filters.subject
        conditions.append(
            or_(
                AuditEvent.entity == subject,
                AuditEvent.entity_id == subject,
                AuditEvent.entity + ":" + AuditEvent.entity_id == subject,
            )
        )
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    entries = list(
        session.scalars(
            select(AuditEvent)
            .where(*conditions)
            .order_by(AuditEvent.seq.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return AuditPage(entries, int(total), page, per_page)


def actions(session: Session) -> list[str]:
    """Every action in the log, for the filter's choices."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def newer_than(session: Session, seq: int) -> int:
    """How many entries came after ``seq`` (to find its page, newest first)."""
    return session.scalar(select(func.count()).where(AuditEvent.seq > seq)) or 0
