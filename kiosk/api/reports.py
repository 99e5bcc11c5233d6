"""Finance API: the daily report (JSON, PDF, CSV) and closing a business day.

The office is the caller's own; a finance user who belongs to no office (central finance)
names it with ``?office=CODE``. Supervisors may read the report (they approve the voids and
refunds in it); only finance closes a day.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_login import current_user

from kiosk import db
from kiosk.access import access
from kiosk.api import bp
from kiosk.api.common import (
    BadRequest,
    idempotency_key,
    requested_day,
    requested_office,
)
from kiosk.reports import daily_report_csv, office_daily_report_pdf
from kiosk.security import current_principal
from payments import days, reports
from payments.posting import iso_utc


def _report() -> reports.DailyReport:
    office = requested_office()
    return reports.daily_report(
        db.session(), office.id, requested_day(request.args.get("date"), office)
    )


def _filename(report: reports.DailyReport, ext: str) -> str:
    return f"daily-{report.office_code}-{report.business_date.isoformat()}.{ext}"


@bp.route("/reports/daily", methods=["GET"])
@access("finance", "supervisor")
def daily_report():
    return jsonify(_report().as_dict())


@bp.route("/reports/daily.pdf", methods=["GET"])
@access("finance", "supervisor")
def daily_report_pdf_view():
    report = _report()
    from flask import current_app

    target = current_app.config.get("SERVICE_TARGET_MINUTES")
    return Response(
        office_daily_report_pdf(db.session(), report, target),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{_filename(report, "pdf")}"'},
    )


@bp.route("/reports/daily.csv", methods=["GET"])
@access("finance", "supervisor")
def daily_report_csv_view():
    report = _report()
    return Response(
        daily_report_csv(report),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_filename(report, "csv")}"'},
    )


def _close_body() -> str | None:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        return None
    if not isinstance(body, dict):
        raise BadRequest("bad_json", "The body must be a JSON object.")
    exception = body.get("exception")
    if exception is not None and not isinstance(exception, str):
        raise BadRequest("bad_exception", "exception must be text.")
    return exception


def _day_json(office: days.Office, outcome: days.CloseOutcome) -> dict[str, Any]:
    record = outcome.day
    return {
        "office": office.code,
        "business_date": record.business_date.isoformat(),
        "status": record.status,
        "closed_at": iso_utc(record.closed_at),
        "exception": record.notes,
        "already_closed": outcome.already_closed,
        "blockers": [b.as_dict() for b in outcome.blockers],
    }


@bp.route("/days/<day>/close", methods=["POST"])
@access("finance")
def close_day(day: str):
    """Closing is idempotent by nature (a closed day stays closed, answered the same way); the
    Idempotency-Key is required like every mutating call."""
    session = db.session()
    idempotency_key()
    office = requested_office()
    business_day = requested_day(day, office)
    exception = _close_body()
    principal = current_principal()
    outcome = days.close_day(
        session,
        office.id,
        business_day,
        actor=getattr(current_user, "username", None) or f"staff:{principal.user_id}",
        exception=exception,
        closed_by_id=principal.user_id,
    )
    session.commit()
    return jsonify(_day_json(office, outcome))


_ERR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_CENTS = {"type": "integer", "description": "an amount in US cents"}
_TOTALS = {
    "type": "object",
    "properties": {"count": {"type": "integer"}, "amount_cents": _CENTS},
}
_GROUP = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "kind": {"type": "string"},
        "count": {"type": "integer"},
        "amount_cents": _CENTS,
        "fee_cents": _CENTS,
    },
}
_REPORT = {
    "type": "object",
    "properties": {
        "office_code": {"type": "string"},
        "office_name": {"type": "string"},
        "business_date": {"type": "string", "format": "date"},
        "day_status": {"type": "string", "enum": ["open", "closing", "closed", "reopened"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "receipted": _TOTALS,
        "voided": _TOTALS,
        "collected": _TOTALS,
        "fees_cents": _CENTS,
        "refunds": _TOTALS,
        "net_cents": _CENTS,
        "tenders": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "count": {"type": "integer"},
                    "tendered_cents": _CENTS,
                    "change_cents": _CENTS,
                    "collected_cents": _CENTS,
                    "refunded_cents": _CENTS,
                    "net_cents": _CENTS,
                },
            },
        },
        "by_station": {"type": "array", "items": _GROUP},
        "by_operator": {"type": "array", "items": _GROUP},
        "card": {
            "type": ["object", "null"],
            "description": "Card payments matched to Stripe as of the last reconciliation run: "
            "matched_count, matched_cents, fee_cents, net_cents, unpaid_count, payouts (with the "
            "business days each carries) and open_exceptions (see GET /api/v1/reconciliation).",
        },
        "adjustments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["void", "refund"]},
                    "receipt_number": {"type": ["string", "null"]},
                    "payment_id": {"type": "string"},
                    "amount_cents": _CENTS,
                    "tender": {"type": "string"},
                    "approved_by": {"type": ["string", "null"]},
                    "reason": {"type": ["string", "null"]},
                    "at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
    },
}
_QUERY = [
    {
        "name": "date",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date"},
        "description": "The business day (default: today in the office's time zone).",
    },
    {
        "name": "office",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 8},
        "description": "Office code; only for finance users who belong to no office.",
    },
]
_REPORT_ERRORS = {
    "400": {"description": "Bad date or office", "content": _ERR},
    "401": {"description": "Not signed in", "content": _ERR},
    "403": {"description": "Not finance or a supervisor", "content": _ERR},
    "404": {"description": "No such office", "content": _ERR},
}


def _report_doc(summary: str, op: str, media: str, schema: dict) -> dict:
    return {
        "get": {
            "summary": summary,
            "operationId": op,
            "tags": ["finance"],
            "parameters": _QUERY,
            "responses": {
                "200": {"description": summary, "content": {media: {"schema": schema}}},
                **_REPORT_ERRORS,
            },
        }
    }


_BINARY = {"type": "string", "format": "binary"}

OPENAPI_PATHS = {
    "/api/v1/reports/daily": _report_doc(
        "The daily report's totals", "getDailyReport", "application/json", _REPORT
    ),
    "/api/v1/reports/daily.pdf": _report_doc(
        "The daily report as PDF", "getDailyReportPdf", "application/pdf", _BINARY
    ),
    "/api/v1/reports/daily.csv": _report_doc(
        "The daily report as CSV", "getDailyReportCsv", "text/csv", {"type": "string"}
    ),
    "/api/v1/days/{day}/close": {
        "post": {
            "summary": "Close and lock a business day (finance)",
            "operationId": "closeDay",
            "tags": ["finance"],
            "parameters": [
                {
                    "name": "day",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "date"},
                },
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 128},
                },
                _QUERY[1],
            ],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "exception": {
                                    "type": "string",
                                    "maxLength": days.MAX_EXCEPTION,
                                    "description": "Close although something is still open; "
                                    "says why (audited).",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The day is closed",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "office": {"type": "string"},
                                    "business_date": {"type": "string", "format": "date"},
                                    "status": {"type": "string"},
                                    "closed_at": {"type": ["string", "null"]},
                                    "exception": {"type": ["string", "null"]},
                                    "already_closed": {"type": "boolean"},
                                    "blockers": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        }
                    },
                },
                "400": {"description": "Bad date, key or body", "content": _ERR},
                "404": {"description": "No such office", "content": _ERR},
                "401": {"description": "Not signed in", "content": _ERR},
                "403": {"description": "Not finance", "content": _ERR},
                "409": {
                    "description": "Something is still open (error.blockers lists it)",
                    "content": _ERR,
                },
            },
        }
    },
}
