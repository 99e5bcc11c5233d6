"""Finance API: the card reconciliation of a business day as last run (matched charges with
fees and net, payouts carrying the day, the day's exceptions and every open one up to it).
Running it is done from the finance page or ``payoffice reconcile``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify, request

from kiosk import db
from kiosk.access import access
from kiosk.api import bp
from kiosk.api.common import requested_day, requested_office
from payments import days, reconciliation
from payments.posting import iso_utc


def _exception(e: reconciliation.ReconciliationException) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "label": e.label,
        "business_date": e.business_date.isoformat(),
        "ref": e.ref,
        "payment_id": e.payment_id,
        "charge_id": e.charge_id,
        "refund_id": e.refund_id,
        "expected_cents": e.expected_cents,
        "actual_cents": e.actual_cents,
        "detail": e.detail,
        "found_at": iso_utc(e.found_at),
        "resolved_at": iso_utc(e.resolved_at),
        "resolved_by": e.resolved_by,
        "resolution_note": e.resolution_note,
    }


def reconciliation_json(session, office: days.Office, day: dt.date) -> dict[str, Any]:
    card = reconciliation.card_section(session, office.id, day)
    return {
        "office": office.code,
        "business_date": day.isoformat(),
        "reconciled": card.reconciled,
        "reconciled_at": iso_utc(card.reconciled_at),
        "matched_count": card.matched_count,
        "matched_cents": card.matched_cents,
        "fee_cents": card.fee_cents,
        "net_cents": card.net_cents,
        "unpaid_count": card.unpaid_count,
        "payouts": [
            {
                "payout_id": p.payout_id,
                "arrival_date": p.arrival_date.isoformat(),
                "status": p.status,
                "amount_cents": p.amount_cents,
                "day_net_cents": p.day_net_cents,
                "business_dates": [d.isoformat() for d in p.days],
            }
            for p in card.payouts
        ],
        "settlements": [
            {
                "payment_id": s.payment_id,
                "receipt_number": s.receipt_number,
                "charge_id": s.charge_id,
                "amount_cents": s.amount_cents,
                "fee_cents": s.fee_cents,
                "net_cents": s.net_cents,
                "available_on": s.available_on.isoformat() if s.available_on else None,
                "payout_id": s.payout_id,
            }
            for s in reconciliation.settlements_for_day(session, office.id, day)
        ],
        "exceptions": [
            _exception(e) for e in reconciliation.exceptions_for_day(session, office.id, day)
        ],
        "open_exception_count": len(card.open_exceptions),
    }


@bp.route("/reconciliation", methods=["GET"])
@access("finance")
def get_reconciliation():
    office = requested_office()
    day = requested_day(request.args.get("date"), office)
    return jsonify(reconciliation_json(db.session(), office, day))


_ERR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_CENTS = {"type": "integer", "description": "an amount in US cents"}
_NULL_STR = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}

OPENAPI_PATHS = {
    "/api/v1/reconciliation": {
        "get": {
            "summary": "The card reconciliation of a business day (finance)",
            "description": "Card payments matched to Stripe charges with fees and net, the "
            "payouts that carry the day (with every business day each payout carries), and "
            "the day's exceptions. As stored by the last run (finance page or "
            "`payoffice reconcile`).",
            "operationId": "getReconciliation",
            "tags": ["finance"],
            "parameters": [
                {
                    "name": "date",
                    "in": "query",
                    "required": False,
                    "schema": _DATE,
                    "description": "The business day (default: today in the office's zone).",
                },
                {
                    "name": "office",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 8},
                    "description": "Office code; only for finance users who belong to no office.",
                },
            ],
            "responses": {
                "200": {
                    "description": "The reconciliation",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "office": {"type": "string"},
                                    "business_date": _DATE,
                                    "reconciled": {"type": "boolean"},
                                    "reconciled_at": _NULL_STR,
                                    "matched_count": {"type": "integer"},
                                    "matched_cents": _CENTS,
                                    "fee_cents": _CENTS,
                                    "net_cents": _CENTS,
                                    "unpaid_count": {"type": "integer"},
                                    "payouts": {"type": "array", "items": {"type": "object"}},
                                    "settlements": {"type": "array", "items": {"type": "object"}},
                                    "exceptions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "id": {"type": "integer"},
                                                "kind": {
                                                    "type": "string",
                                                    "enum": [
                                                        k.value
                                                        for k in reconciliation.ExceptionKind
                                                    ],
                                                },
                                                "ref": {"type": "string"},
                                                "expected_cents": {"type": ["integer", "null"]},
                                                "actual_cents": {"type": ["integer", "null"]},
                                                "resolved_at": _NULL_STR,
                                            },
                                        },
                                    },
                                    "open_exception_count": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                "400": {"description": "Bad date or office", "content": _ERR},
                "401": {"description": "Not signed in", "content": _ERR},
                "403": {"description": "Not finance", "content": _ERR},
                "404": {"description": "No such office", "content": _ERR},
            },
        }
    }
}
