"""The counter queue and counter visits: ``GET /api/v1/queue``, ``POST /api/v1/queue/next``,
``POST /api/v1/queue/{ticket_id}/call|recall|no-show|transfer``, ``POST /api/v1/visits`` and
``POST /api/v1/visits/{visit_id}/end``.

Calls come from a paired counter station (or, on an unpaired browser, name ``station_id`` in
the body). Every POST carries an Idempotency-Key: a retried "next" returns the ticket it
called the first time (200) instead of calling another one.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.exc import IntegrityError

from kiosk import db, vocabulary
from kiosk import queue as queue_service
from kiosk.access import access
from kiosk.api import bp
from kiosk.api.common import (
    BadRequest,
    actor,
    caller_office_id,
    idempotency_key,
    json_body,
)
from kiosk.models import QueueTicket, Station, Visit
from kiosk.security import api_error, current_principal
from payments.db import utcnow
from payments.posting import iso_utc

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "maxLength": 128},
}
_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_VISIT_ID = {"name": "visit_id", "in": "path", "required": True, "schema": {"type": "string"}}
_TICKET = {
    "type": ["object", "null"],
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": "string", "examples": ["B012"]},
        "service": {"type": "string", "enum": list(queue_service.SERVICES)},
        "language": {"type": "string"},
        "status": {"type": "string", "enum": ["waiting", "called", "done", "no_show"]},
        "station_id": {"type": ["integer", "null"]},
        "for_station_id": {"type": ["integer", "null"]},
        "issued_at": {"type": "string", "format": "date-time"},
        "called_at": {"type": ["string", "null"], "format": "date-time"},
        "minutes_waited": {"type": "integer"},
    },
}
_VISIT = {
    "type": ["object", "null"],
    "properties": {
        "id": {"type": "string"},
        "ticket_id": {"type": ["integer", "null"]},
        "ticket_number": {"type": ["string", "null"]},
        "station_id": {"type": ["integer", "null"]},
        "staff_user_id": {"type": ["integer", "null"]},
        "language": {"type": "string"},
        "reason_codes": {"type": "array", "items": {"type": "string"}},
        "outcome_code": {"type": ["string", "null"]},
        "notes": {"type": ["string", "null"]},
        "called_at": {"type": ["string", "null"], "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_RESULT = {
    "type": "object",
    "properties": {"ticket": _TICKET, "visit": _VISIT, "replayed": {"type": "boolean"}},
}
_FINISH_FIELDS = {
    "reasons": {"type": "array", "items": {"type": "string"}, "description": "reason codes"},
    "outcome": {"type": "string", "description": "an outcome code"},
    "notes": {"type": "string", "maxLength": queue_service.MAX_NOTES},
}


def _post(summary: str, op: str, params: list, body: dict | None, ok: str = "200") -> dict:
    item: dict[str, Any] = {
        "summary": summary,
        "operationId": op,
        "tags": ["queue"],
        "parameters": [_KEY, *params],
        "responses": {
            ok: {
                "description": "The ticket and its counter visit",
                "content": {"application/json": {"schema": _RESULT}},
            },
            "400": {"description": "Bad request", "content": _ERROR},
            "404": {"description": "No such ticket or visit", "content": _ERROR},
            "409": {"description": "Not possible in the ticket's state", "content": _ERROR},
        },
    }
    if ok == "201":
        item["responses"]["200"] = {
            "description": "A replay: the answer to the first request with this key",
            "content": {"application/json": {"schema": _RESULT}},
        }
    if body is not None:
        item["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object", "properties": body}}},
        }
    return {"post": item}


_STATION = {"station_id": {"type": "integer", "description": "only from an unpaired browser"}}

OPENAPI_PATHS = {
    "/api/v1/queue": {
        "get": {
            "summary": "The waiting list, who is at a counter, and this counter's open visit",
            "operationId": "getQueue",
            "tags": ["queue"],
            "responses": {
                "200": {
                    "description": "The queue",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "waiting": {"type": "array", "items": _TICKET},
                                    "serving": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "number": {"type": "string"},
                                                "counter": {"type": "string"},
                                            },
                                        },
                                    },
                                    "current_visit": _VISIT,
                                },
                            }
                        }
                    },
                }
            },
        }
    },
    "/api/v1/queue/next": _post(
        "Call the next ticket (service priority, then arrival)", "callNext", [], _STATION, "201"
    ),
    "/api/v1/queue/{ticket_id}/call": _post(
        "Call a particular waiting ticket", "callTicket", [_TICKET_ID], _STATION
    ),
    "/api/v1/queue/{ticket_id}/recall": _post(
        "Announce a called ticket again", "recallTicket", [_TICKET_ID], None
    ),
    "/api/v1/queue/{ticket_id}/no-show": _post(
        "The called customer did not come", "noShowTicket", [_TICKET_ID], None
    ),
    "/api/v1/queue/{ticket_id}/transfer": _post(
        "Send a ticket to another service and/or counter",
        "transferTicket",
        [_TICKET_ID],
        {
            "service": {"type": "string", "enum": list(queue_service.SERVICES)},
            "station_id": {"type": "integer", "description": "the counter to wait for"},
        },
    ),
    "/api/v1/visits": _post(
        "Start a counter visit: a walk-in, or from a waiting ticket; with an outcome it is "
        "logged and ended at once",
        "createVisit",
        [],
        {
            "ticket_id": {"type": "integer"},
            "language": {"type": "string", "enum": list(queue_service.LANGUAGES)},
            "account_id": {"type": "integer"},
            **_STATION,
            **_FINISH_FIELDS,
        },
        "201",
    ),
    "/api/v1/visits/{visit_id}/end": _post(
        "Finish a counter visit with reasons, outcome and notes (goes to the CIS)",
        "endVisit",
        [_VISIT_ID],
        _FINISH_FIELDS,
    ),
}


def ticket_json(ticket: QueueTicket | None) -> dict[str, Any] | None:
    if ticket is None:
        return None
    return {
        "id": ticket.id,
        "number": ticket.number,
        "service": ticket.service,
        "language": ticket.language,
        "status": ticket.status,
        "station_id": ticket.station_id,
        "for_station_id": ticket.for_station_id,
        "issued_at": iso_utc(ticket.issued_at),
        "called_at": iso_utc(ticket.called_at),
        "minutes_waited": queue_service.minutes_between(
            ticket.issued_at, ticket.called_at or utcnow()
        ),
    }


def visit_json(session, visit: Visit | None) -> dict[str, Any] | None:
    if visit is None:
        return None
    ticket = session.get(QueueTicket, visit.ticket_id) if visit.ticket_id else None
    return {
        "id": visit.id,
        "ticket_id": visit.ticket_id,
        "ticket_number": ticket.number if ticket else None,
        "station_id": visit.station_id,
        "staff_user_id": visit.staff_user_id,
        "language": visit.language,
        "reason_codes": [c for c in (visit.reason_codes or "").split(",") if c],
        "reason_labels": [vocabulary.label(c) for c in (visit.reason_codes or "").split(",") if c],
        "outcome_code": visit.outcome_code,
        "notes": visit.notes,
        "called_at": iso_utc(visit.called_at),
        "started_at": iso_utc(visit.started_at),
        "ended_at": iso_utc(visit.ended_at),
    }


def _result_json(session, result: queue_service.QueueResult) -> dict[str, Any]:
    return {
        "ticket": ticket_json(result.ticket),
        "visit": visit_json(session, result.visit),
        "replayed": result.replayed,
    }


def _counter(session, body: dict | None = None) -> queue_service.Counter:
    office_id = caller_office_id()
    if office_id is None:
        raise BadRequest("no_office", "This station or user belongs to no office.")
    principal = current_principal()
    station_id = principal.station_id
    if station_id is None and body is not None and body.get("station_id") is not None:
        raw = body["station_id"]
        station = session.get(Station, raw) if isinstance(raw, int) else None
        if isinstance(raw, bool) or station is None or station.office_id != office_id:
            raise BadRequest("bad_station", "station_id must be a counter of this office.")
        station_id = station.id
    return queue_service.Counter(office_id, station_id, principal.user_id, actor())


def _run(action, *, created: bool = False):
    """Run one queue action in one transaction and answer with the ticket and visit."""
    session = db.session()
    for _attempt in range(2):
        try:
            key = idempotency_key()
            body = json_body()
            result = action(session, body, key)
            session.commit()
        except queue_service.QueueError as exc:
            session.rollback()
            return api_error(exc.status, exc.code, exc.message)
        except IntegrityError:
            # The same Idempotency-Key arrived twice at once: answer the second as a replay.
            session.rollback()
            continue
        status = 201 if created and not result.replayed else 200
        return jsonify(_result_json(session, result)), status
    return api_error(409, "busy", "The same request is running; try again.")


@bp.route("/queue", methods=["GET"])
@access("cashier", "supervisor")
def get_queue():
    session = db.session()
    who = _counter(session)
    waiting = [
        {
            "id": t.id,
            "number": t.number,
            "service": t.service,
            "language": t.language,
            "status": "waiting",
            "minutes_waited": t.minutes_waited,
            "for_station_id": t.for_station_id,
            "for_station": t.for_station,
        }
        for t in queue_service.waiting_list(session, who.office_id)
    ]
    serving = [
        {"number": s.number, "counter": s.counter, "announced_at": iso_utc(s.announced_at)}
        for s in queue_service.now_serving(session, who.office_id, limit=50)
    ]
    visit = queue_service.current_visit(session, who.station_id)
    return jsonify(
        {"waiting": waiting, "serving": serving, "current_visit": visit_json(session, visit)}
    )


@bp.route("/queue/next", methods=["POST"])
@access("cashier", "supervisor")
def call_next_ticket():
    return _run(
        lambda s, body, key: queue_service.call_next(s, _counter(s, body), key=key), created=True
    )


@bp.route("/queue/<int:ticket_id>/call", methods=["POST"])
@access("cashier", "supervisor")
def call_queue_ticket(ticket_id: int):
    return _run(
        lambda s, body, key: queue_service.call_ticket(s, _counter(s, body), ticket_id, key=key)
    )


@bp.route("/queue/<int:ticket_id>/recall", methods=["POST"])
@access("cashier", "supervisor")
def recall_queue_ticket(ticket_id: int):
    return _run(lambda s, body, key: queue_service.recall(s, _counter(s), ticket_id, key=key))


@bp.route("/queue/<int:ticket_id>/no-show", methods=["POST"])
@access("cashier", "supervisor")
def no_show_queue_ticket(ticket_id: int):
    return _run(lambda s, body, key: queue_service.no_show(s, _counter(s), ticket_id, key=key))


@bp.route("/queue/<int:ticket_id>/transfer", methods=["POST"])
@access("cashier", "supervisor")
def transfer_queue_ticket(ticket_id: int):
    return _run(
        lambda s, body, key: queue_service.transfer(
            s,
            _counter(s),
            ticket_id,
            service=body.get("service"),
            station_id=body.get("station_id"),
            key=key,
        )
    )


def _create_visit(session, body: dict, key: str) -> queue_service.QueueResult:
    who = _counter(session, body)
    if body.get("ticket_id") is not None:
        result = queue_service.call_ticket(
            session, who, body["ticket_id"], reasons=body.get("reasons"), key=key
        )
    else:
        result = queue_service.walk_in(
            session,
            who,
            language=body.get("language", "en"),
            reasons=body.get("reasons"),
            account_id=body.get("account_id"),
            key=key,
        )
    if result.replayed or body.get("outcome") is None:
        return result
    finished = queue_service.finish(
        session,
        who,
        result.visit.id,
        reasons=[c for c in result.visit.reason_codes.split(",") if c],
        outcome=body.get("outcome"),
        notes=body.get("notes"),
    )
    return queue_service.QueueResult(finished.ticket, finished.visit)


@bp.route("/visits", methods=["POST"])
@access("cashier", "supervisor")
def create_visit():
    return _run(_create_visit, created=True)


@bp.route("/visits/<visit_id>/end", methods=["POST"])
@access("cashier", "supervisor")
def end_visit(visit_id: str):
    return _run(
        lambda s, body, key: queue_service.finish(
            s,
            _counter(s),
            visit_id,
            reasons=body.get("reasons"),
            outcome=body.get("outcome"),
            notes=body.get("notes"),
            key=key,
        )
    )
