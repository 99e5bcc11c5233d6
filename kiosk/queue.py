"""Queue tickets for the counter: a number per office and business day ("B012"), the
language for the clerk, and an estimated wait from the people already waiting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiosk.models import QueueTicket
from payments.db import business_date

# service -> number prefix and the reason code it records on the visit
SERVICES = {
    "billing": ("B", "billing.question"),
    "start_stop": ("S", "service.start_stop"),
    "other": ("O", "information.other"),
}
LANGUAGES = ("en", "es", "vi")
DEFAULT_MINUTES_PER_CUSTOMER = 6


class QueueError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IssuedTicket:
    ticket: QueueTicket
    waiting_ahead: int
    estimated_wait_minutes: int

    @property
    def number(self) -> str:
        return self.ticket.number


def waiting_count(session: Session, office_id: int, day) -> int:
    return session.scalar(
        select(func.count(QueueTicket.id)).where(
            QueueTicket.office_id == office_id,
            QueueTicket.business_date == day,
            QueueTicket.status == "waiting",
        )
    )


def issue_ticket(
    session: Session,
    *,
    office_id: int,
    service: str,
    language: str = "en",
    account_id: int | None = None,
    station_id: int | None = None,
    minutes_per_customer: int = DEFAULT_MINUTES_PER_CUSTOMER,
) -> IssuedTicket:
    """Take the next number for ``service`` today. Two kiosks at once never share a number:
    the unique (office, day, number) constraint decides and the loser takes the next one."""
    if service not in SERVICES:
        raise QueueError("bad_service", f"service must be one of {', '.join(SERVICES)}")
    if language not in LANGUAGES:
        raise QueueError("bad_language", f"language must be one of {', '.join(LANGUAGES)}")
    prefix = SERVICES[service][0]
    day = business_date()
    ahead = waiting_count(session, office_id, day)
    for _attempt in range(20):
        last = session.scalar(
            select(func.max(QueueTicket.number)).where(
                QueueTicket.office_id == office_id,
                QueueTicket.business_date == day,
                QueueTicket.number.like(f"{prefix}%"),
            )
        )
        seq = int(last[1:]) + 1 if last else 1
        ticket = QueueTicket(
            office_id=office_id,
            business_date=day,
            number=f"{prefix}{seq:03d}",
            service=service,
            language=language,
            account_id=account_id,
            station_id=station_id,
        )
        try:
            with session.begin_nested():
                session.add(ticket)
        except IntegrityError:
            continue
        return IssuedTicket(ticket, ahead, ahead * max(minutes_per_customer, 0))
    raise QueueError("busy", "Could not take a number; please try again.")
