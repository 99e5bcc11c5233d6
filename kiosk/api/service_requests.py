"""``POST /api/v1/service-requests`` and ``GET /api/v1/service-requests/{reference}``."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from kiosk import db, receipting
from kiosk import service_requests as sr
from kiosk.access import access
from kiosk.api import bp
from kiosk.api.common import caller_office_id
from kiosk.auth import current_station
from kiosk.models import Account
from kiosk.security import api_error, current_principal

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_STATUS_SCHEMA = {
    "type": "object",
    "properties": {
        "reference": {"type": "string", "examples": ["48271593"]},
        "kind": {"type": "string", "enum": list(sr.KINDS)},
        "status": {"type": "string", "enum": list(sr.STATUSES)},
        "scheduled_for": {"type": ["string", "null"], "format": "date"},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"status": {"type": "string"}, "reached": {"type": "boolean"}},
            },
        },
    },
}

OPENAPI_PATHS = {
    "/api/v1/service-requests": {
        "post": {
            "summary": "Request a service (bulky-item pickup, cart exchange, missed pickup)",
            "operationId": "createServiceRequest",
            "tags": ["service requests"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["account_number", "kind", "details"],
                            "properties": {
                                "account_number": {"type": "string"},
                                "kind": {"type": "string", "enum": list(sr.KINDS)},
                                "details": {
                                    "type": "object",
                                    "description": "bulky_item: items 1-5; cart_exchange: "
                                    "cart and need; missed_pickup: cart",
                                },
                                "language": {"type": "string", "enum": list(sr.LANGUAGES)},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "The request was received",
                    "content": {"application/json": {"schema": _STATUS_SCHEMA}},
                },
                "400": {"description": "Bad kind or details", **_ERROR},
                "404": {"description": "Unknown account", **_ERROR},
            },
        }
    },
    "/api/v1/service-requests/{reference}": {
        "get": {
            "summary": "Where a service request stands",
            "operationId": "getServiceRequest",
            "tags": ["service requests"],
            "parameters": [
                {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "Status (no personal data)",
                    "content": {"application/json": {"schema": _STATUS_SCHEMA}},
                },
                "400": {"description": "Not an 8-digit reference", **_ERROR},
                "404": {"description": "No such request", **_ERROR},
            },
        }
    },
}


def status_json(status: sr.RequestStatus) -> dict:
    return {
        "reference": status.reference,
        "kind": status.kind,
        "status": status.status,
        "scheduled_for": status.scheduled_for.isoformat() if status.scheduled_for else None,
        "steps": [{"status": s, "reached": r} for s, r in status.steps],
    }


@bp.route("/service-requests", methods=["POST"])
@access("kiosk", "staff")
def create_service_request():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "bad_request", "Send a JSON object.")
    number = body.get("account_number")
    if not isinstance(number, str) or not number.strip():
        return api_error(400, "bad_account", "account_number is required.")
    office_id = caller_office_id()
    if office_id is None:
        return api_error(400, "no_office", "This station or user belongs to no office.")
    session = db.session()
    account = session.scalar(select(Account).where(Account.number == number.strip()))
    if account is None:
        return api_error(404, "account_not_found", "No account has that number.")
    try:
        created = sr.create_request(
            session,
            office_id=office_id,
            account=account,
            kind=body.get("kind"),
            details=body.get("details"),
            language=body.get("language") or "en",
            channel="kiosk" if current_principal().is_kiosk else "counter",
        )
        status = sr.status_of(session, created.reference)
        if current_principal().is_kiosk:  # the slip prints at the kiosk that asked
            receipting.enqueue_service_request(session, created, current_station())
    except sr.ServiceRequestError as exc:
        session.rollback()
        return api_error(400, exc.code, exc.message)
    session.commit()
    return jsonify(status_json(status)), 201


@bp.route("/service-requests/<reference>", methods=["GET"])
@access("kiosk", "staff")
def get_service_request(reference: str):
    try:
        status = sr.status_of(db.session(), reference)
    except sr.ServiceRequestError as exc:
        return api_error(404 if exc.code == "not_found" else 400, exc.code, exc.message)
    return jsonify(status_json(status))
