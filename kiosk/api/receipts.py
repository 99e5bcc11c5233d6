"""Receipts: ``GET /api/v1/receipts/{number}`` (JSON), ``.pdf``, ``.png``, and
``POST /api/v1/receipts/{number}/print`` (a reprint, marked REPRINT).

Staff may fetch and reprint any receipt; a kiosk only a receipt paid at itself in the last
15 minutes (the customer still standing there).
"""

from __future__ import annotations

import re

from flask import Response, jsonify, request

from kiosk import db, receipting
from kiosk.access import access
from kiosk.api import bp
from kiosk.models import StaffUser
from kiosk.security import api_error, current_principal
from receipts.pdf import render_pdf
from receipts.preview import render_png
from receipts.printing import PRINT_TOPIC
from receipts.text import render_text

NUMBER = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_ERR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_PARAM = [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}]
_ERRORS = {
    "403": {"description": "Not this caller's receipt", "content": _ERR},
    "404": {"description": "No such receipt", "content": _ERR},
}


def _binary(summary: str, op: str, media: str) -> dict:
    return {
        "get": {
            "summary": summary,
            "operationId": op,
            "tags": ["receipts"],
            "parameters": _PARAM,
            "responses": {
                "200": {
                    "description": summary,
                    "content": {media: {"schema": {"type": "string", "format": "binary"}}},
                },
                **_ERRORS,
            },
        }
    }


OPENAPI_PATHS = {
    "/api/v1/receipts/{number}": {
        "get": {
            "summary": "A receipt as data and plain text",
            "operationId": "getReceipt",
            "tags": ["receipts"],
            "parameters": _PARAM,
            "responses": {
                "200": {
                    "description": "The receipt",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "receipt_number": {"type": "string"},
                                    "document": {"type": "object"},
                                    "text": {"type": "string"},
                                    "print_jobs": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        }
                    },
                },
                **_ERRORS,
            },
        }
    },
    "/api/v1/receipts/{number}.pdf": _binary(
        "The receipt as an 80 mm PDF", "getReceiptPdf", "application/pdf"
    ),
    "/api/v1/receipts/{number}.png": _binary(
        "The receipt as a PNG preview", "getReceiptPng", "image/png"
    ),
    "/api/v1/receipts/{number}/print": {
        "post": {
            "summary": "Reprint a receipt (marked REPRINT) at the caller's station printer",
            "operationId": "reprintReceipt",
            "tags": ["receipts"],
            "parameters": _PARAM,
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "copies": {"type": "integer", "minimum": 1, "maximum": 5}
                            },
                        }
                    }
                },
            },
            "responses": {
                "202": {
                    "description": "Queued for printing",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "jobs": {"type": "array", "items": {"type": "string"}}
                                },
                            }
                        }
                    },
                },
                "400": {"description": "Bad copies", "content": _ERR},
                **_ERRORS,
            },
        }
    },
}


def _load(number: str):
    """The payment behind a receipt the caller may see, or an API error response."""
    if not NUMBER.match(number):
        return None, api_error(404, "not_found", "No receipt with this number.")
    session = db.session()
    try:
        payment = receipting.find_payment(session, number)
    except receipting.ReceiptNotFound:
        return None, api_error(404, "not_found", "No receipt with this number.")
    if not receipting.may_see(current_principal(), payment):
        return None, api_error(403, "forbidden", "This receipt cannot be shown here.")
    return payment, None


def _actor(session, principal) -> str:
    if principal.user_id is not None:
        user = session.get(StaffUser, principal.user_id)
        if user is not None:
            return user.username
    return f"station:{principal.station_id}"


@bp.route("/receipts/<number>.pdf")
@access("kiosk", "staff")
def receipt_pdf(number: str):
    payment, error = _load(number)
    if error:
        return error
    doc = receipting.receipt_document(db.session(), payment)
    return Response(
        render_pdf(doc),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="receipt-{number}.pdf"'},
    )


@bp.route("/receipts/<number>.png")
@access("kiosk", "staff")
def receipt_png(number: str):
    payment, error = _load(number)
    if error:
        return error
    doc = receipting.receipt_document(db.session(), payment)
    return Response(render_png(doc), mimetype="image/png")


@bp.route("/receipts/<number>")
@access("kiosk", "staff")
def receipt_json(number: str):
    payment, error = _load(number)
    if error:
        return error
    session = db.session()
    doc = receipting.receipt_document(session, payment)
    jobs = [
        {
            "key": m.key,
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
        }
        for m in receipting.print_jobs_for(session, number)
        if m.topic == PRINT_TOPIC
    ]
    return jsonify(
        {
            "receipt_number": number,
            "status": payment.status,
            "document": doc.to_dict(),
            "text": render_text(doc),
            "print_jobs": jobs,
        }
    )


@bp.route("/receipts/<number>/print", methods=["POST"])
@access("kiosk", "staff")
def receipt_reprint(number: str):
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    copies = body.get("copies", 1)
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 5:
        return api_error(400, "bad_copies", "copies must be a whole number from 1 to 5.")
    payment, error = _load(number)
    if error:
        return error
    principal = current_principal()
    session = db.session()
    messages = receipting.reprint(
        session,
        payment,
        station_id=principal.station_id,
        actor=_actor(session, principal),
        copies=copies,
    )
    session.commit()
    return jsonify({"jobs": [m.key for m in messages]}), 202
