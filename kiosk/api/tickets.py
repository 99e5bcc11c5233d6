"""``POST /api/v1/tickets``: take a queue number for the counter."""

from __future__ import annotations

from flask import current_app, jsonify, request

from kiosk import db, receipting
from kiosk import queue as queue_service
from kiosk.access import access
from kiosk.api import bp
from kiosk.api.common import caller_office_id
from kiosk.security import api_error, current_principal

OPENAPI_PATHS = {
    "/api/v1/tickets": {
        "post": {
            "summary": "Take a queue ticket for the counter",
            "operationId": "createTicket",
            "tags": ["queue"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["service"],
                            "properties": {
                                "service": {
                                    "type": "string",
                                    "enum": list(queue_service.SERVICES),
                                },
                                "language": {
                                    "type": "string",
                                    "enum": list(queue_service.LANGUAGES),
                                    "default": "en",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "The ticket",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "number": {"type": "string", "examples": ["B012"]},
                                    "service": {"type": "string"},
                                    "language": {"type": "string"},
                                    "waiting_ahead": {"type": "integer"},
                                    "estimated_wait_minutes": {"type": "integer"},
                                    "business_date": {"type": "string", "format": "date"},
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "Bad service or language",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }
}


@bp.route("/tickets", methods=["POST"])
@access("kiosk", "staff")
def create_ticket():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "bad_request", "Send a JSON object with service and language.")
    office_id = caller_office_id()
    if office_id is None:
        return api_error(400, "no_office", "This station or user belongs to no office.")
    session = db.session()
    try:
        issued = queue_service.issue_ticket(
            session,
            office_id=office_id,
            service=body.get("service"),
            language=body.get("language") or "en",
            station_id=current_principal().station_id,
            minutes_per_customer=current_app.config["QUEUE_MINUTES_PER_CUSTOMER"],
        )
    except queue_service.QueueError as exc:
        session.rollback()
        return api_error(400, exc.code, exc.message)
    receipting.enqueue_ticket(session, issued.ticket, issued.estimated_wait_minutes)
    session.commit()
    return jsonify(ticket_json(issued)), 201


def ticket_json(issued: queue_service.IssuedTicket) -> dict:
    t = issued.ticket
    return {
        "number": t.number,
        "service": t.service,
        "language": t.language,
        "waiting_ahead": issued.waiting_ahead,
        "estimated_wait_minutes": issued.estimated_wait_minutes,
        "business_date": t.business_date.isoformat(),
    }
