"""Performance measures API: ``GET /api/v1/measures?period=day|week|month&date=`` (JSON).

Definitions in docs/measures.md. Finance, supervisors and admins may read it; a user who
belongs to no office names it with ``?office=CODE``.
"""

from __future__ import annotations

from flask import jsonify

from kiosk import db, measures
from kiosk.access import access
from kiosk.api import bp
from kiosk.security import api_error
from kiosk.views.finance_measures import (
    VIEWERS,
    BadInput,
    office_for_request,
    parse_period,
    target_minutes,
)


@bp.route("/measures", methods=["GET"])
@access(*VIEWERS)
def get_measures():
    session = db.session()
    try:
        office = office_for_request(session)
        kind, day = parse_period(office)
    except BadInput as exc:
        return api_error(400, exc.code, str(exc))
    m = measures.compute(session, office.id, kind, day, target_minutes=target_minutes())
    return jsonify(m.as_dict())


_ERR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_INT = {"type": "integer"}
_RATIO = {
    "type": "object",
    "description": "numerator / denominator; value is null when the denominator is 0",
    "properties": {
        "numerator": _INT,
        "denominator": _INT,
        "value": {"type": ["number", "null"]},
    },
}
_DURATIONS = {
    "type": "object",
    "description": "whole seconds; p90 is the nearest-rank 90th percentile",
    "properties": {
        "count": _INT,
        "mean_seconds": {"type": ["integer", "null"]},
        "p90_seconds": {"type": ["integer", "null"]},
    },
}
_COUNTS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "string"}, "label": {"type": "string"}, "count": _INT},
    },
}
_MEASURES = {
    "type": "object",
    "properties": {
        "office_code": {"type": "string"},
        "office_name": {"type": "string"},
        "period": {"type": "string", "enum": list(measures.PERIODS)},
        "first_date": {"type": "string", "format": "date"},
        "last_date": {"type": "string", "format": "date"},
        "label": {"type": "string"},
        "generated_at": {"type": "string", "format": "date-time"},
        "target_minutes": _INT,
        "visits": {
            "type": "object",
            "properties": {
                "total": _INT,
                "arrivals": _INT,
                "by_reason": _COUNTS,
                "by_outcome": _COUNTS,
                "by_channel": _COUNTS,
            },
        },
        "tickets": {
            "type": "object",
            "properties": {
                "issued": _INT,
                "served": _INT,
                "no_show": _INT,
                "never_called": _INT,
                "waiting_now": _INT,
            },
        },
        "wait": _DURATIONS,
        "service": _DURATIONS,
        "served_within_target": _RATIO,
        "abandonment": _RATIO,
        "self_service": _RATIO,
        "kiosk_hand_offs": _RATIO,
        "transactions_per_staffed_hour": {
            "type": "object",
            "properties": {
                "counter_transactions": _INT,
                "staffed_seconds": _INT,
                "value": {"type": ["number", "null"]},
            },
        },
        "hourly_arrivals": {
            "type": "array",
            "items": {"type": "object", "properties": {"hour": _INT, "count": _INT}},
        },
        "wait_histogram": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "low_minutes": _INT,
                    "high_minutes": {"type": ["integer", "null"]},
                    "count": _INT,
                },
            },
        },
    },
}

OPENAPI_PATHS = {
    "/api/v1/measures": {
        "get": {
            "summary": "Performance measures of an office for a day, ISO week or month",
            "operationId": "getMeasures",
            "tags": ["finance"],
            "parameters": [
                {
                    "name": "period",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(measures.PERIODS), "default": "day"},
                },
                {
                    "name": "date",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date"},
                    "description": "A day in the period (default: today, office time).",
                },
                {
                    "name": "office",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 8},
                    "description": "Office code; only for users who belong to no office.",
                },
            ],
            "responses": {
                "200": {
                    "description": "The measures (definitions in docs/measures.md)",
                    "content": {"application/json": {"schema": _MEASURES}},
                },
                "400": {"description": "Bad period, date or office", "content": _ERR},
                "401": {"description": "Not signed in", "content": _ERR},
                "403": {"description": "Not finance, a supervisor or an admin", "content": _ERR},
            },
        }
    }
}
