"""What the CIS is told about the office's own records: visits and service requests.

Money records (payment, void, refund) and every CIS topic live in ``payments.posting``, because
the payments service enqueues them and must not import ``kiosk``. Usage, in the same
transaction as the visit::

    outbox.enqueue(
        session, CIS_VISIT_TOPIC, visit.id, visit_record(visit, office_code),
        office_id=visit.office_id,
    )

Field lists are documented in docs/cis.md.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from kiosk.models import Account, QueueTicket, ServiceRequest, Visit
from payments.posting import (
    CIS_PAYMENT_TOPIC,
    CIS_REFUND_TOPIC,
    CIS_SERVICE_REQUEST_TOPIC,
    CIS_TOPICS,
    CIS_VISIT_TOPIC,
    CIS_VOID_TOPIC,
    SCHEMA_VERSION,
    iso_date,
    iso_utc,
    payment_record,
    refund_record,
    void_record,
)

__all__ = [
    "CIS_PAYMENT_TOPIC",
    "CIS_REFUND_TOPIC",
    "CIS_SERVICE_REQUEST_TOPIC",
    "CIS_TOPICS",
    "CIS_VISIT_TOPIC",
    "CIS_VOID_TOPIC",
    "payment_record",
    "refund_record",
    "service_request_record",
    "visit_record",
    "void_record",
]


def _account_number(obj: Any, account_number: str | None) -> str | None:
    if account_number is not None or obj.account_id is None:
        return account_number
    session = object_session(obj)
    if session is None:
        return None
    return session.scalar(select(Account.number).where(Account.id == obj.account_id))


def _codes(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _seconds(start, end) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds()), 0)


def visit_record(
    visit: Visit,
    office_code: str,
    *,
    account_number: str | None = None,
    ticket_number: str | None = None,
) -> dict[str, Any]:
    """The CIS record of a finished visit (any channel). Account and ticket numbers are
    looked up in the visit's session unless given.

    ``wait_seconds`` is the customer's wait in the lobby: the ticket's ``issued_at`` to the
    call (``visit.called_at``). A visit without a ticket (walk-in, kiosk) has no measured wait:
    ``wait_seconds`` is null."""
    issued_at = None
    session = object_session(visit)
    if visit.ticket_id is not None and session is not None:
        row = session.execute(
            select(QueueTicket.number, QueueTicket.issued_at).where(
                QueueTicket.id == visit.ticket_id
            )
        ).first()
        if row is not None:
            issued_at = row.issued_at
            if ticket_number is None:
                ticket_number = row.number
    return {
        "record_type": "visit",
        "schema_version": SCHEMA_VERSION,
        "record_id": visit.id,
        "office_code": office_code,
        "account_number": _account_number(visit, account_number),
        "channel": visit.channel,
        "station_id": visit.station_id,
        "staff_user_id": visit.staff_user_id,
        "ticket_number": ticket_number,
        "language": visit.language,
        "reason_codes": _codes(visit.reason_codes),
        "outcome_code": visit.outcome_code,
        "notes": visit.notes,
        "started_at": iso_utc(visit.started_at),
        "called_at": iso_utc(visit.called_at),
        "ended_at": iso_utc(visit.ended_at),
        "wait_seconds": _seconds(issued_at, visit.called_at),
        "duration_seconds": _seconds(visit.started_at, visit.ended_at),
    }


def service_request_record(
    request: ServiceRequest, office_code: str, *, account_number: str | None = None
) -> dict[str, Any]:
    """The CIS record of a service request (bulky-item pickup, cart exchange, missed pickup)
    taken at the office. Its ``record_id`` is the request's public reference."""
    try:
        details = json.loads(request.details or "{}")
    except ValueError:
        details = {"text": request.details}
    return {
        "record_type": "service_request",
        "schema_version": SCHEMA_VERSION,
        "record_id": request.reference,
        "office_code": office_code,
        "account_number": _account_number(request, account_number),
        "kind": request.kind,
        "details": details,
        "language": request.language,
        "channel": request.channel,
        "status": request.status,
        "scheduled_for": iso_date(request.scheduled_for),
        "created_at": iso_utc(request.created_at),
    }
