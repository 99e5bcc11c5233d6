"""Finance API: a business day's deposit (slip figures, who prepared and verified it) and its
posting batches to the CIS with their acknowledgments. Read-only; finance only. The office is
the caller's own, or ``?office=CODE`` for finance users who belong to no office."""

from __future__ import annotations

from flask import jsonify

from kiosk import db
from kiosk.access import access
from kiosk.api import bp
from kiosk.api.common import requested_day, requested_office
from payments import deposit as deposits
from payments import posting_batch


@bp.route("/deposits/<day>", methods=["GET"])
@access("finance")
def get_deposit(day: str):
    session = db.session()
    office = requested_office()
    business_day = requested_day(day, office)
    current = deposits.current_deposit(session, office.id, business_day)
    if current is None:
        raise deposits.DepositNotFound(
            "deposit_not_found", f"No deposit prepared for {business_day.isoformat()}."
        )
    history = deposits.versions(session, office.id, business_day)
    data = deposits.as_dict(current) | {"office": office.code}
    data["versions"] = [
        {"version": d.version, "status": d.status, "bag_number": d.bag_number} for d in history
    ]
    return jsonify(data)


@bp.route("/postings/<day>", methods=["GET"])
@access("finance")
def get_postings(day: str):
    session = db.session()
    office = requested_office()
    business_day = requested_day(day, office)
    batches = posting_batch.batches_of(session, office.id, business_day)
    return jsonify(
        {
            "office": office.code,
            "business_date": business_day.isoformat(),
            "batches": [posting_batch.as_dict(b) for b in batches],
        }
    )


_ERR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_CENTS = {"type": "integer", "description": "an amount in US cents"}
_STAMP = {"type": ["string", "null"], "format": "date-time"}
_TOTALS = {
    "type": "object",
    "properties": {"count": {"type": "integer"}, "amount_cents": _CENTS},
}
_PARAMS = [
    {"name": "day", "in": "path", "required": True, "schema": {"type": "string", "format": "date"}},
    {
        "name": "office",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 8},
        "description": "Office code; only for finance users who belong to no office.",
    },
]
_ERRORS = {
    "400": {"description": "Bad date or office", "content": _ERR},
    "401": {"description": "Not signed in", "content": _ERR},
    "403": {"description": "Not finance", "content": _ERR},
}

OPENAPI_COMPONENTS = {
    "schemas": {
        "Deposit": {
            "type": "object",
            "description": "Cash = drawer counts - float retained + drops and pickups; "
            "checks and money orders listed; total = cash + checks + money orders.",
            "properties": {
                "office": {"type": "string"},
                "business_date": {"type": "string", "format": "date"},
                "version": {"type": "integer"},
                "status": {"type": "string", "enum": ["prepared", "verified", "superseded"]},
                "bag_number": {"type": "string"},
                "counted_cash_cents": _CENTS,
                "float_retained_cents": _CENTS,
                "safe_drops_cents": _CENTS,
                "cash_cents": _CENTS,
                "cash": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "denomination": {"type": "string", "example": "bill_20"},
                            "counted": {"type": "integer"},
                            "retained": {"type": "integer"},
                            "deposited": {"type": "integer"},
                            "deposited_cents": _CENTS,
                        },
                    },
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string", "enum": ["check", "money_order"]},
                            "reference": {"type": ["string", "null"]},
                            "bank": {"type": ["string", "null"]},
                            "amount_cents": _CENTS,
                            "receipt_number": {"type": ["string", "null"]},
                        },
                    },
                },
                "checks_count": {"type": "integer"},
                "checks_cents": _CENTS,
                "money_orders_count": {"type": "integer"},
                "money_orders_cents": _CENTS,
                "total_cents": _CENTS,
                "prepared_by_id": {"type": "integer"},
                "prepared_at": _STAMP,
                "verified_by_id": {"type": ["integer", "null"]},
                "verified_at": _STAMP,
                "amend_reason": {"type": ["string", "null"]},
            },
        },
        "PostingBatch": {
            "type": "object",
            "properties": {
                "reference": {"type": "string", "example": "SA-2026-11-20-v1"},
                "business_date": {"type": "string", "format": "date"},
                "version": {"type": "integer"},
                "status": {
                    "type": "string",
                    "enum": ["pending", "sent", "acknowledged", "rejected", "superseded"],
                },
                "control": {
                    "type": "object",
                    "properties": {
                        "payment": _TOTALS,
                        "payment_void": _TOTALS,
                        "refund": _TOTALS,
                    },
                },
                "net": _TOTALS,
                "created_at": _STAMP,
                "sent_at": _STAMP,
                "adapter": {"type": ["string", "null"]},
                "delivered_as": {"type": ["string", "null"]},
                "ack_reference": {"type": ["string", "null"]},
                "ack_at": _STAMP,
                "ack_detail": {"type": ["string", "null"]},
            },
        },
    }
}

OPENAPI_PATHS = {
    "/api/v1/deposits/{day}": {
        "get": {
            "summary": "The business day's deposit slip (finance)",
            "operationId": "getDeposit",
            "tags": ["finance"],
            "parameters": _PARAMS,
            "responses": {
                "200": {
                    "description": "The live version of the deposit",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Deposit"}}
                    },
                },
                **_ERRORS,
                "404": {
                    "description": "No deposit for that day, or no such office",
                    "content": _ERR,
                },
            },
        }
    },
    "/api/v1/postings/{day}": {
        "get": {
            "summary": "The business day's posting batches to the CIS (finance)",
            "operationId": "getPostings",
            "tags": ["finance"],
            "parameters": _PARAMS,
            "responses": {
                "200": {
                    "description": "Every version, oldest first, with its acknowledgment",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "office": {"type": "string"},
                                    "business_date": {"type": "string", "format": "date"},
                                    "batches": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/PostingBatch"},
                                    },
                                },
                            }
                        }
                    },
                },
                **_ERRORS,
                "404": {"description": "No such office", "content": _ERR},
            },
        }
    },
}
