"""Service requests from the office (bulky-item pickup, cart exchange or repair, missed
pickup): a reference the resident can look up later, a plain life-cycle (received ->
scheduled -> done) and a CIS record through the outbox."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.cis.records import CIS_SERVICE_REQUEST_TOPIC, service_request_record
from kiosk.models import Account, Office, ServiceRequest
from payments import outbox

STATUSES = ("received", "scheduled", "done")
LANGUAGES = ("en", "es", "vi")

# kind -> the detail fields it takes and their allowed values
KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "bulky_item": {"items": ("1", "2", "3", "4", "5")},
    "cart_exchange": {
        "cart": ("trash", "recycling", "organics"),
        "need": ("repair", "bigger", "smaller", "replace"),
    },
    "missed_pickup": {"cart": ("trash", "recycling", "organics")},
}
REASON_CODES = {
    "bulky_item": "service.bulky_item",
    "cart_exchange": "service.cart_exchange",
    "missed_pickup": "service.missed_pickup",
}


class ServiceRequestError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RequestStatus:
    reference: str
    kind: str
    status: str
    scheduled_for: Any
    steps: list[tuple[str, bool]]  # (status, reached)


def normalize_reference(text: str | None) -> str:
    return "".join(ch for ch in (text or "") if ch.isdigit())


def format_reference(reference: str) -> str:
    return f"{reference[:4]} {reference[4:]}" if len(reference) == 8 else reference


def validate_details(kind: str, details: Any) -> dict[str, str]:
    if kind not in KINDS:
        raise ServiceRequestError("bad_kind", f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(details, dict):
        raise ServiceRequestError("bad_details", "details must be an object")
    clean: dict[str, str] = {}
    for field, allowed in KINDS[kind].items():
        value = details.get(field)
        if not isinstance(value, str) or value not in allowed:
            raise ServiceRequestError(
                "bad_details", f"details.{field} must be one of {', '.join(allowed)}"
            )
        clean[field] = value
    extra = set(details) - set(KINDS[kind])
    if extra:
        raise ServiceRequestError("bad_details", f"unknown details: {', '.join(sorted(extra))}")
    return clean


def create_request(
    session: Session,
    *,
    office_id: int,
    account: Account,
    kind: str,
    details: Any,
    language: str = "en",
    channel: str = "kiosk",
) -> ServiceRequest:
    """Record the request with a fresh 8-digit reference and enqueue it for the CIS."""
    clean = validate_details(kind, details)
    if language not in LANGUAGES:
        raise ServiceRequestError("bad_language", "language must be en, es or vi")
    for _attempt in range(20):
        reference = f"{secrets.randbelow(90_000_000) + 10_000_000}"
        taken = session.scalar(
            select(ServiceRequest.id).where(ServiceRequest.reference == reference)
        )
        if not taken:
            break
    else:  # pragma: no cover - 20 collisions in 90 million
        raise ServiceRequestError("busy", "Could not allocate a reference; try again.")
    request = ServiceRequest(
        reference=reference,
        office_id=office_id,
        account_id=account.id,
        kind=kind,
        details=json.dumps(clean, sort_keys=True),
        language=language,
        channel=channel,
        status="received",
    )
    session.add(request)
    session.flush()
    office = session.get(Office, office_id)
    outbox.enqueue(
        session,
        CIS_SERVICE_REQUEST_TOPIC,
        reference,
        service_request_record(request, office.code, account_number=account.number),
        office_id=office_id,
    )
    return request


def status_of(session: Session, reference: str) -> RequestStatus:
    """What a resident may see by reference: kind, status, date. Nothing personal."""
    ref = normalize_reference(reference)
    if len(ref) != 8:
        raise ServiceRequestError("bad_reference", "A reference number has 8 digits.")
    request = session.scalar(select(ServiceRequest).where(ServiceRequest.reference == ref))
    if request is None:
        raise ServiceRequestError("not_found", "No request has that reference number.")
    reached = STATUSES.index(request.status) if request.status in STATUSES else 0
    steps = [(s, i <= reached) for i, s in enumerate(STATUSES)]
    return RequestStatus(ref, request.kind, request.status, request.scheduled_for, steps)
