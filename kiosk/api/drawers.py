"""Cash drawer API: open with a counted float, drops/pickups/paid-ins, blind close, supervisor
approval and reopen, and a read view.

Blind count: the expected figure of an open drawer is never sent to its own cashier (nor to
anyone running that drawer); it appears only in the answer to the close, after the count.
A cashier sees only their own drawers; supervisors and finance see every drawer of their
office. A supervisor approves either signed in, or by typing their credentials on the
cashier's screen (``"supervisor": {"username", "password"}``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from sqlalchemy.exc import IntegrityError

from kiosk import db
from kiosk.access import access
from kiosk.api import approvals, bp
from kiosk.api.common import (
    BadRequest,
    actor,
    caller_office_id,
    idempotency_key,
    json_body,
)
from kiosk.models import Station
from kiosk.security import api_error, current_principal
from payments import drawer as drawers
from payments.models import DENOMINATIONS, CountPhase, DrawerSession, DrawerStatus
from payments.money import AmountError, parse_cents
from payments.posting import iso_date, iso_utc


def _sees_all() -> bool:
    return bool(current_principal().roles & {"supervisor", "finance"})


def _visible_drawer(session, drawer_id: int, *, lock: bool = False) -> DrawerSession:
    """A drawer of the caller's office; a plain cashier only their own."""
    drawer = drawers.get_drawer(session, drawer_id, lock=lock)
    principal = current_principal()
    office_id = caller_office_id()
    visible = office_id is None or drawer.office_id == office_id
    if not _sees_all() and drawer.cashier_id != principal.user_id:
        visible = False
    if not visible:
        raise drawers.DrawerNotFound("drawer_not_found", "No drawer with that id.")
    return drawer


def _may_see_expected(drawer: DrawerSession) -> bool:
    if drawer.status == DrawerStatus.CLOSED:
        return True
    principal = current_principal()
    return _sees_all() and drawer.cashier_id != principal.user_id


def _supervisor_id(session, body: dict, drawer: DrawerSession | None, action: str) -> int | None:
    """The approving supervisor (``kiosk.override``: one rule for every approval): typed
    credentials, else the signed-in supervisor unless they run this drawer themselves."""
    return approvals.supervisor_id(
        session,
        body,
        action=action,
        self_id=drawer.cashier_id if drawer is not None else None,
        entity="drawer",
        entity_id=drawer.id if drawer is not None else None,
    )


def _counts_json(drawer: DrawerSession, phase: str) -> dict[str, int]:
    return drawers.counts_of(drawer, phase)


def drawer_json(session, drawer: DrawerSession) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": drawer.id,
        "station_id": drawer.station_id,
        "cashier_id": drawer.cashier_id,
        "business_date": iso_date(drawer.business_date),
        "status": drawer.status,
        "opened_at": iso_utc(drawer.opened_at),
        "closed_at": iso_utc(drawer.closed_at),
        "float_cents": drawer.float_cents,
        "float_counts": _counts_json(drawer, CountPhase.OPEN),
        "movements": [
            {
                "id": m.id,
                "kind": m.kind,
                "amount_cents": m.amount_cents,
                "reason": m.reason,
                "by": m.actor,
                "at": iso_utc(m.created_at),
            }
            for m in drawer.movements
        ],
        "close": None,
    }
    if drawer.status == DrawerStatus.CLOSED:
        checks = drawers.recorded_checks(session, drawer)
        body["close"] = {
            "counted_cents": drawer.counted_cents,
            "counts": _counts_json(drawer, CountPhase.CLOSE),
            "expected_cents": drawer.expected_cents,
            "over_short_cents": drawer.over_short_cents,
            "checks": {
                "counted_count": drawer.checks_counted_count,
                "counted_cents": drawer.checks_counted_cents,
                "recorded_count": drawer.checks_expected_count,
                "recorded_cents": drawer.checks_expected_cents,
                "items": [
                    {
                        "kind": c.kind,
                        "reference": c.reference,
                        "bank": c.bank,
                        "amount_cents": c.amount_cents,
                        "receipt_number": c.receipt_number,
                    }
                    for c in checks
                ],
            },
            "approval_required": drawer.approval_required,
            "awaiting_approval": drawers.awaiting_approval(drawer),
            "approved_by_id": drawer.approved_by_id,
            "approved_at": iso_utc(drawer.approved_at),
            "closed_by_id": drawer.closed_by_id,
        }
    elif _may_see_expected(drawer):
        summary = drawers.cash_summary(session, drawer)
        body["expected_cents"] = summary.expected_cents
        body["cash_summary"] = {
            "float_cents": summary.float_cents,
            "cash_in_cents": summary.cash_in_cents,
            "change_out_cents": summary.change_out_cents,
            "cash_refunds_cents": summary.cash_refunds_cents,
            "paid_in_cents": summary.paid_in_cents,
            "drops_cents": summary.drops_cents,
            "pickups_cents": summary.pickups_cents,
        }
    return body


def _station_id(session, body: dict) -> int:
    """The caller's paired counter station, or (on an unpaired browser) ``station_id``."""
    principal = current_principal()
    if principal.station_id is not None:
        return principal.station_id
    raw = body.get("station_id")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequest(
            "station_required", "Open the drawer from a paired counter station or give station_id."
        )
    if session.get(Station, raw) is None:
        raise drawers.DrawerNotFound("station_not_found", "No such station in this office.")
    return raw


@bp.route("/drawers", methods=["POST"])
@access("cashier", "supervisor")
def open_drawer():
    session = db.session()
    try:
        key = idempotency_key()
        body = json_body()
        office_id = caller_office_id()
        if office_id is None:
            raise BadRequest("no_office", "This station or user belongs to no office.")
        drawer, replayed = drawers.open_drawer(
            session,
            office_id=office_id,
            station_id=_station_id(session, body),
            cashier_id=current_principal().user_id,
            counts=body.get("counts"),
            actor=actor(),
            key=key,
        )
        session.commit()
    except IntegrityError:
        # Another request opened a drawer at this station at the same moment.
        session.rollback()
        return api_error(409, "drawer_already_open", "A drawer is already open at this station.")
    return jsonify(drawer_json(session, drawer)), (200 if replayed else 201)


@bp.route("/drawers/current", methods=["GET"])
@access("cashier", "supervisor")
def current_drawer():
    """The drawer open at the caller's paired counter station (404 when none is open)."""
    session = db.session()
    drawer = drawers.open_drawer_at(session, current_principal().station_id)
    if drawer is None:
        return api_error(404, "no_open_drawer", "No drawer is open at this station.")
    drawer = _visible_drawer(session, drawer.id)
    return jsonify(drawer_json(session, drawer))


@bp.route("/drawers/<int:drawer_id>", methods=["GET"])
@access("cashier", "supervisor", "finance")
def get_drawer(drawer_id: int):
    session = db.session()
    drawer = _visible_drawer(session, drawer_id)
    body = drawer_json(session, drawer)
    return jsonify(body)


@bp.route("/drawers/<int:drawer_id>/movements", methods=["POST"])
@access("cashier", "supervisor")
def record_drawer_movement(drawer_id: int):
    session = db.session()
    key = idempotency_key()
    body = json_body()
    try:
        amount = parse_cents(body.get("amount_cents"))
    except AmountError as exc:
        raise BadRequest("bad_amount", f"amount_cents: {exc.message}") from exc
    drawer = _visible_drawer(session, drawer_id, lock=True)
    movement, replayed = drawers.record_movement(
        session,
        drawer,
        kind=body.get("kind"),
        amount_cents=amount,
        reason=body.get("reason"),
        staff_user_id=current_principal().user_id,
        actor=actor(),
        key=key,
    )
    session.commit()
    out = {
        "id": movement.id,
        "drawer_id": drawer.id,
        "kind": movement.kind,
        "amount_cents": movement.amount_cents,
        "reason": movement.reason,
        "by": movement.actor,
        "at": iso_utc(movement.created_at),
    }
    return jsonify(out), (200 if replayed else 201)


@bp.route("/drawers/<int:drawer_id>/close", methods=["POST"])
@access("cashier", "supervisor")
def close_drawer(drawer_id: int):
    session = db.session()
    key = idempotency_key()
    body = json_body()
    drawer = _visible_drawer(session, drawer_id)
    supervisor_id = _supervisor_id(session, body, drawer, "drawer.close")
    drawer = _visible_drawer(session, drawer_id, lock=True)
    drawer, _ = drawers.close_drawer(
        session,
        drawer,
        counts=body.get("counts"),
        checks_count=body.get("checks_count", 0),
        checks_cents=body.get("checks_cents", 0),
        closed_by_id=current_principal().user_id,
        supervisor_id=supervisor_id,
        tolerance_cents=current_app.config.get(
            "DRAWER_TOLERANCE_CENTS", drawers.DEFAULT_TOLERANCE_CENTS
        ),
        actor=actor(),
        key=key,
    )
    session.commit()
    return jsonify(drawer_json(session, drawer))


@bp.route("/drawers/<int:drawer_id>/approve", methods=["POST"])
@access("cashier", "supervisor")
def approve_drawer(drawer_id: int):
    session = db.session()
    idempotency_key()
    body = json_body()
    drawer = _visible_drawer(session, drawer_id)
    supervisor_id = _supervisor_id(session, body, drawer, "drawer.approve")
    drawer = _visible_drawer(session, drawer_id, lock=True)
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > drawers.MAX_REASON):
        raise BadRequest("bad_note", "note must be text of up to 500 characters.")
    drawers.approve_drawer(session, drawer, supervisor_id=supervisor_id, actor=actor(), note=note)
    session.commit()
    return jsonify(drawer_json(session, drawer))


@bp.route("/drawers/<int:drawer_id>/reopen", methods=["POST"])
@access("cashier", "supervisor")
def reopen_drawer(drawer_id: int):
    session = db.session()
    try:
        idempotency_key()
        body = json_body()
        drawer = _visible_drawer(session, drawer_id)
        supervisor_id = _supervisor_id(session, body, drawer, "drawer.reopen")
        drawer = _visible_drawer(session, drawer_id, lock=True)
        drawers.reopen_drawer(
            session, drawer, supervisor_id=supervisor_id, actor=actor(), reason=body.get("reason")
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        return api_error(409, "drawer_already_open", "Another drawer is open at this station.")
    return jsonify(drawer_json(session, drawer))


# -- OpenAPI ---------------------------------------------------------------------------------

_ERROR = {"$ref": "#/components/schemas/Error"}
_CENTS = {"type": "integer", "description": "an amount in US cents"}
_COUNTS = {
    "type": "object",
    "description": "pieces per denomination (bills in dollars, coins in cents); missing = 0",
    "properties": {d: {"type": "integer", "minimum": 0} for d in DENOMINATIONS},
    "additionalProperties": False,
    "examples": [{"bill_20": 5, "bill_5": 10, "coin_25": 40}],
}
_SUPERVISOR = {
    "type": "object",
    "description": "a supervisor's own credentials, typed on the cashier's screen",
    "required": ["username", "password"],
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
}
_DRAWER = {
    "type": "object",
    "required": ["id", "status", "float_cents", "float_counts", "movements", "close"],
    "properties": {
        "id": {"type": "integer"},
        "station_id": {"type": "integer"},
        "cashier_id": {"type": "integer"},
        "business_date": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "opened_at": {"type": "string", "format": "date-time"},
        "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "float_cents": _CENTS,
        "float_counts": _COUNTS,
        "movements": {"type": "array", "items": {"type": "object"}},
        "expected_cents": {
            **_CENTS,
            "description": "open drawers only, and only for a supervisor or finance who is "
            "not running this drawer",
        },
        "cash_summary": {"type": "object"},
        "close": {
            "type": ["object", "null"],
            "description": "after the blind count: counted, expected, over (+) / short (-)",
            "properties": {
                "counted_cents": _CENTS,
                "counts": _COUNTS,
                "expected_cents": _CENTS,
                "over_short_cents": _CENTS,
                "checks": {"type": "object"},
                "approval_required": {"type": "boolean"},
                "awaiting_approval": {"type": "boolean"},
                "approved_by_id": {"type": ["integer", "null"]},
            },
        },
    },
}
_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "maxLength": 128},
    "description": "Repeat a request with the same key to get the same result, never twice.",
}
_ID = {"name": "drawer_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _responses(ok: str, *errors: str, schema: dict | None = None) -> dict:
    out: dict[str, Any] = {
        ok: {
            "description": "The drawer",
            "content": {"application/json": {"schema": schema or _DRAWER}},
        }
    }
    for status in errors:
        out[status] = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _body_schema(properties: dict, required: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_MOVEMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "drawer_id": {"type": "integer"},
        "kind": {"type": "string", "enum": ["drop", "pickup", "paid_in"]},
        "amount_cents": _CENTS,
        "reason": {"type": "string"},
        "by": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
    },
}

OPENAPI_PATHS = {
    "/api/v1/drawers": {
        "post": {
            "summary": "Open a cash drawer at the caller's counter station with a counted float",
            "operationId": "openDrawer",
            "tags": ["drawers"],
            "parameters": [_KEY],
            "requestBody": _body_schema(
                {"counts": _COUNTS, "station_id": {"type": "integer"}}, ["counts"]
            ),
            "responses": {
                **_responses("201", "400", "401", "403", "404", "409"),
                "200": {
                    "description": "Replay of an earlier request with the same key",
                    "content": {"application/json": {"schema": _DRAWER}},
                },
            },
        }
    },
    "/api/v1/drawers/current": {
        "get": {
            "summary": "The drawer open at the caller's counter station",
            "operationId": "getCurrentDrawer",
            "tags": ["drawers"],
            "responses": _responses("200", "401", "403", "404"),
        }
    },
    "/api/v1/drawers/{drawer_id}": {
        "get": {
            "summary": "A drawer (a cashier: their own, never the expected figure while open)",
            "operationId": "getDrawer",
            "tags": ["drawers"],
            "parameters": [_ID],
            "responses": _responses("200", "401", "403", "404"),
        }
    },
    "/api/v1/drawers/{drawer_id}/movements": {
        "post": {
            "summary": "Record a drop or pickup (cash out) or a paid-in (cash in), with a reason",
            "operationId": "recordDrawerMovement",
            "tags": ["drawers"],
            "parameters": [_ID, _KEY],
            "requestBody": _body_schema(
                {
                    "kind": {"type": "string", "enum": ["drop", "pickup", "paid_in"]},
                    "amount_cents": {"type": "integer", "minimum": 1},
                    "reason": {"type": "string", "maxLength": 500},
                },
                ["kind", "amount_cents", "reason"],
            ),
            "responses": {
                **_responses("201", "400", "401", "403", "404", "409", schema=_MOVEMENT),
                "200": {
                    "description": "Replay of an earlier request with the same key",
                    "content": {"application/json": {"schema": _MOVEMENT}},
                },
            },
        }
    },
    "/api/v1/drawers/{drawer_id}/close": {
        "post": {
            "summary": "Close with a blind count; the answer shows over/short after the count",
            "operationId": "closeDrawer",
            "tags": ["drawers"],
            "parameters": [_ID, _KEY],
            "requestBody": _body_schema(
                {
                    "counts": _COUNTS,
                    "checks_count": {"type": "integer", "minimum": 0},
                    "checks_cents": {"type": "integer", "minimum": 0},
                    "supervisor": _SUPERVISOR,
                },
                ["counts"],
            ),
            "responses": _responses("200", "400", "401", "403", "404", "409"),
        }
    },
    "/api/v1/drawers/{drawer_id}/approve": {
        "post": {
            "summary": "A supervisor approves a closed drawer's over/short beyond the tolerance",
            "operationId": "approveDrawer",
            "tags": ["drawers"],
            "parameters": [_ID, _KEY],
            "requestBody": _body_schema(
                {"supervisor": _SUPERVISOR, "note": {"type": "string", "maxLength": 500}}
            ),
            "responses": _responses("200", "400", "401", "403", "404", "409"),
        }
    },
    "/api/v1/drawers/{drawer_id}/reopen": {
        "post": {
            "summary": "A supervisor reopens a closed drawer (recount, late correction)",
            "operationId": "reopenDrawer",
            "tags": ["drawers"],
            "parameters": [_ID, _KEY],
            "requestBody": _body_schema(
                {"supervisor": _SUPERVISOR, "reason": {"type": "string", "maxLength": 500}},
                ["reason"],
            ),
            "responses": _responses("200", "400", "401", "403", "404", "409"),
        }
    },
}
