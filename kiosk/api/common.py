"""Small helpers shared by the kiosk-layer API modules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from flask_login import current_user

from kiosk import db
from kiosk.models import StaffUser, Station
from kiosk.security import api_error, current_principal
from payments import days
from payments.days import MAX_DAYS_BACK
from payments.db import business_date
from payments.states import PaymentError


def caller_office_id() -> int | None:
    """The office of the calling station (kiosk) or signed-in staff member."""
    principal = current_principal()
    session = db.session()
    if principal.station_id is not None:
        station = session.get(Station, principal.station_id)
        if station is not None:
            return station.office_id
    if principal.user_id is not None:
        user = session.get(StaffUser, principal.user_id)
        if user is not None:
            return user.office_id
    return None


class BadRequest(PaymentError):
    """A request the API cannot read: 400 with a stable code."""

    status = 400


def error_response(exc: PaymentError):
    """A domain error as the API's JSON error body with its status."""
    return api_error(exc.status, exc.code, exc.message, **exc.extra)


def idempotency_key() -> str:
    """The Idempotency-Key header every mutating API request must carry."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise BadRequest("idempotency_key_required", "Send an Idempotency-Key header.")
    if len(key) > 128 or not key.isprintable():
        raise BadRequest("bad_idempotency_key", "The Idempotency-Key must be 1-128 characters.")
    return key


def json_body() -> dict[str, Any]:
    """The request's JSON object; an empty body is an empty object."""
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        return {}
    if not isinstance(body, dict):
        raise BadRequest("bad_json", "The body must be a JSON object.")
    return body


def actor() -> str:
    """Who the audit log names for this request: the kiosk station or the staff member."""
    principal = current_principal()
    if principal.is_kiosk:
        return f"kiosk:{principal.station_id}"
    return getattr(current_user, "username", None) or f"staff:{principal.user_id}"


def requested_office() -> days.Office:
    """The office named by ``?office=CODE`` (only the caller's own, if they have one), else
    the caller's office."""
    session = db.session()
    own = caller_office_id()
    code = request.args.get("office")
    if code is not None:
        if not isinstance(code, str) or not code.strip() or len(code) > 8:
            raise BadRequest("bad_office", "office must be an office code such as SA.")
        office = days.office_by_code(session, code.strip().upper())
        if own is not None and office.id != own:
            raise days.OfficeNotFound("office_not_found", "No such office for this user.")
        return office
    if own is None:
        raise BadRequest("office_required", "Name the office: ?office=CODE.")
    return days.office(session, own)


def requested_day(value: str | None, office: days.Office) -> dt.date:
    """A business day given as YYYY-MM-DD (blank: today at the office); never the future."""
    today = business_date(tz=office.tz)
    if value is None or value == "":
        return today
    try:
        day = dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadRequest("bad_date", "The date must be YYYY-MM-DD.")
    if day > today or (today - day).days > MAX_DAYS_BACK:
        raise BadRequest("bad_date", "The date must be a business day that has begun.")
    return day
