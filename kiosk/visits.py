"""Visits: every kiosk (and counter) visit is recorded with reason and outcome codes from the
shared vocabulary and reported to the CIS through the outbox when it ends."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kiosk import vocabulary
from kiosk.cis.records import CIS_VISIT_TOPIC, visit_record
from kiosk.models import Office, Visit
from payments import outbox
from payments.db import utcnow


class VisitError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def start_visit(
    session: Session,
    *,
    office_id: int,
    channel: str = "kiosk",
    station_id: int | None = None,
    language: str = "en",
) -> Visit:
    visit = Visit(office_id=office_id, channel=channel, station_id=station_id, language=language)
    session.add(visit)
    session.flush()
    return visit


def add_reason(visit: Visit, code: str) -> None:
    """Note why the customer came (kept in order, each code once)."""
    vocabulary.require(code, "reason")
    codes = [c for c in (visit.reason_codes or "").split(",") if c]
    if code not in codes:
        codes.append(code)
        visit.reason_codes = ",".join(codes)


def note(
    visit: Visit,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    account_id: int | None = None,
    ticket_id: int | None = None,
    language: str | None = None,
) -> None:
    """Record what happened so far; the latest outcome wins."""
    if visit.ended_at is not None:
        raise VisitError("ended", "This visit has already ended.")
    if reason:
        add_reason(visit, reason)
    if outcome:
        vocabulary.require(outcome, "outcome")
        visit.outcome_code = outcome
    if account_id is not None:
        visit.account_id = account_id
    if ticket_id is not None:
        visit.ticket_id = ticket_id
    if language:
        visit.language = language


def end_visit(session: Session, visit: Visit, *, outcome: str | None = None) -> bool:
    """Close the visit and enqueue its CIS record in the same transaction. Ending twice
    changes nothing (returns False)."""
    if visit.ended_at is not None:
        return False
    if outcome and not visit.outcome_code:
        vocabulary.require(outcome, "outcome")
        visit.outcome_code = outcome
    visit.ended_at = utcnow()
    session.flush()
    office = session.get(Office, visit.office_id)
    outbox.enqueue(
        session,
        CIS_VISIT_TOPIC,
        visit.id,
        visit_record(visit, office.code),
        office_id=visit.office_id,
    )
    return True
