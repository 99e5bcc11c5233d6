"""Payments API: create (Idempotency-Key required), status, cancel, void and refunds.

Kiosk devices pay by card on the kiosk channel only (the channel comes from the caller, never
from the body); cashiers and supervisors take every tender on the counter channel.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select
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
from kiosk.models import Account, Bill, Station
from kiosk.security import current_principal
from payments import service, simulated
from payments.gateway import CardGateway
from payments.models import Channel, Payment, TenderKind
from payments.money import AmountError, parse_cents
from payments.posting import iso_date, iso_utc
from payments.rules import PaymentRules
from payments.states import IN_FLIGHT

GATEWAY_FACTORY = "payoffice.card_gateway_factory"  # app.extensions key: session -> gateway


def card_gateway(session) -> CardGateway | None:
    """The configured card gateway bound to this request's session. The Stripe gateway
    registers a factory under ``app.extensions[GATEWAY_FACTORY]``."""
    factory = current_app.extensions.get(GATEWAY_FACTORY)
    if factory is not None:
        return factory(session)
    if current_app.config.get("CARD_GATEWAY", "simulated") == "simulated":
        return simulated.SimulatedReader(session)
    return None


def payment_rules() -> PaymentRules:
    return PaymentRules.from_settings(current_app.config)


def _reader_id(session) -> str:
    principal = current_principal()
    station = session.get(Station, principal.station_id) if principal.station_id else None
    if station is not None and station.reader_id:
        return station.reader_id
    return f"simulated-{station.id}" if station is not None else "simulated-counter"


def _cents(value: object, field: str) -> int:
    try:
        return parse_cents(value)
    except AmountError as exc:
        raise BadRequest(f"bad_{field}", f"{field}: {exc.message}") from exc


def _optional_text(body: dict, field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"bad_{field}", f"{field} must be text of up to {limit} characters.")
    return value.strip() or None


def _tenders(body: dict, amount: int, kiosk: bool) -> tuple[service.TenderInput, ...]:
    raw = body.get("tenders")
    if raw is None and kiosk:
        raw = [{"kind": TenderKind.CARD.value, "amount_cents": amount}]
    if not isinstance(raw, list) or not raw or len(raw) > 10:
        raise BadRequest("bad_tenders", "tenders must be a list of 1 to 10 tender lines.")
    lines = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise BadRequest("bad_tenders", "Each tender needs a kind and amount_cents.")
        lines.append(
            service.TenderInput(
                kind=item["kind"],
                amount_cents=_cents(item.get("amount_cents"), "amount_cents"),
                reference=_optional_text(item, "reference", 64),
                bank=_optional_text(item, "bank", 64),
            )
        )
    if kiosk and any(t.kind != TenderKind.CARD for t in lines):
        raise BadRequest("kiosk_card_only", "The kiosk takes card payments only.")
    return tuple(lines)


def _command(session, key: str) -> service.PaymentCommand:
    principal = current_principal()
    body = json_body()
    office_id = caller_office_id()
    if office_id is None:
        raise BadRequest("no_office", "This station or user belongs to no office.")
    number = body.get("account_number")
    if not isinstance(number, str) or not number.strip() or len(number) > 20:
        raise BadRequest("bad_account_number", "Give the account number.")
    account = session.scalars(select(Account).where(Account.number == number.strip())).first()
    if account is None:
        raise service.NotFound("account_not_found", "No account with that number.")
    amount = _cents(body.get("amount_cents"), "amount_cents")
    bill_numbers = body.get("bill_numbers") or []
    if not isinstance(bill_numbers, list) or not all(isinstance(b, str) for b in bill_numbers):
        raise BadRequest("bad_bill_numbers", "bill_numbers must be a list of bill numbers.")
    bill_ids: list[int] = []
    if bill_numbers:
        found = {
            b.number: b
            for b in session.scalars(select(Bill).where(Bill.number.in_(bill_numbers[:50])))
        }
        for n in bill_numbers:
            bill = found.get(n)
            if bill is None or bill.account_id != account.id:
                raise service.NotFound(
                    "bill_not_found", f"Bill {n} is not a bill of this account.", bill_number=n
                )
            bill_ids.append(bill.id)
    confirm = body.get("confirm_duplicate", False)
    if not isinstance(confirm, bool):
        raise BadRequest("bad_confirm_duplicate", "confirm_duplicate must be true or false.")
    language = body.get("language", "en")
    if not isinstance(language, str):
        raise BadRequest("bad_language", "The language must be en, es or vi.")
    return service.PaymentCommand(
        office_id=office_id,
        account_id=account.id,
        account_number=account.number,
        channel=Channel.KIOSK.value if principal.is_kiosk else Channel.COUNTER.value,
        amount_cents=amount,
        tenders=_tenders(body, amount, principal.is_kiosk),
        idempotency_key=key,
        station_id=principal.station_id,
        staff_user_id=None if principal.is_kiosk else principal.user_id,
        language=language,
        bill_ids=tuple(bill_ids),
        email=_optional_text(body, "email", 254),
        confirm_duplicate=confirm,
        actor=actor(),
    )


def payment_json(payment: Payment) -> dict[str, Any]:
    principal = current_principal()
    failure = None
    if payment.failure_code and payment.status in ("failed", "canceled"):
        failure = {"code": payment.failure_code, "message": payment.failure_message}
    body: dict[str, Any] = {
        "id": payment.id,
        "status": payment.status,
        "channel": payment.channel,
        "account_number": payment.account_number,
        "amount_cents": payment.amount_cents,
        "fee_cents": payment.fee_cents,
        "change_cents": payment.change_cents,
        "refunded_cents": payment.refunded_cents,
        "language": payment.language,
        "receipt_number": payment.receipt_number,
        "business_date": iso_date(payment.business_date),
        "tenders": [
            {"kind": t.kind, "amount_cents": t.amount_cents, "reference": t.reference}
            for t in payment.tenders
        ],
        "card": (
            {"brand": payment.card_brand, "last4": payment.card_last4}
            if payment.card_last4
            else None
        ),
        "failure": failure,
        # "offline": the reader could not be reached at start (the attempt is being canceled
        # at the processor while the status is still awaiting_card; canceled once it is).
        "reader_status": "offline" if service.reader_offline(payment) else None,
        "needs_review": payment.needs_review,
        "created_at": iso_utc(payment.created_at),
        "completed_at": iso_utc(payment.completed_at),
        "voided_at": iso_utc(payment.voided_at),
    }
    if not principal.is_kiosk:
        body["void_reason"] = payment.void_reason
        body["refunds"] = [
            {
                "id": r.id,
                "kind": r.kind,
                "amount_cents": r.amount_cents,
                "status": r.status,
                "business_date": iso_date(r.business_date),
            }
            for r in payment.refunds
        ]
    return body


def _visible_payment(session, payment_id: str, *, lock: bool = False) -> Payment:
    """A payment the caller may see: a kiosk only its own station's, staff their office's."""
    if len(payment_id) > 32:
        raise service.NotFound("payment_not_found", "No payment with that id.")
    payment = service.get_payment(session, payment_id, lock=lock)
    principal = current_principal()
    if principal.is_kiosk:
        visible = payment.station_id == principal.station_id
    else:
        office_id = caller_office_id()
        visible = office_id is None or payment.office_id == office_id
    if not visible:
        raise service.NotFound("payment_not_found", "No payment with that id.")
    return payment


@bp.route("/payments", methods=["POST"])
@access("kiosk", "cashier", "supervisor")
def create_payment():
    session = db.session()
    for attempt in range(2):
        try:
            key = idempotency_key()
            command = _command(session, key)
            outcome = service.create_payment(session, command, payment_rules())
            payment = outcome.payment
            starts_card = service.card_tender(payment) and payment.status == "created"
            if not outcome.replayed and starts_card:
                gateway = card_gateway(session)
                if gateway is None:
                    raise service.GatewayFailure(
                        "gateway_unavailable", "Card payments are not available right now."
                    )
                # The payment must exist before any card is touched: if this process dies
                # after the reader takes the card, the recovery sweep finds this row and
                # completes it from the processor's state instead of flagging a stray charge.
                session.commit()
                service.start_card(
                    session, payment, gateway, reader_id=_reader_id(session), actor=command.actor
                )
            session.commit()
        except IntegrityError:
            # Another request with the same key committed first: answer as a replay.
            session.rollback()
            if attempt == 0:
                continue
            raise
        return jsonify(payment_json(payment)), (200 if outcome.replayed else 201)
    raise AssertionError("unreachable")


@bp.route("/payments/<payment_id>", methods=["GET"])
@access("kiosk", "cashier", "supervisor", "finance")
def get_payment(payment_id: str):
    session = db.session()
    payment = _visible_payment(session, payment_id)
    if payment.status in IN_FLIGHT and service.card_tender(payment):
        gateway = card_gateway(session)
        if gateway is not None:
            service.refresh_card(session, payment, gateway, actor=actor())
            session.commit()
    return jsonify(payment_json(payment))


@bp.route("/payments/<payment_id>/cancel", methods=["POST"])
@access("kiosk", "cashier", "supervisor")
def cancel_payment(payment_id: str):
    session = db.session()
    idempotency_key()
    payment = _visible_payment(session, payment_id, lock=True)
    gateway = card_gateway(session) if service.card_tender(payment) else None
    service.cancel_payment(session, payment, gateway, actor=actor())
    session.commit()
    return jsonify(payment_json(payment))


def _approver(session, body: dict, action: str, payment_id: str) -> int:
    """The supervisor approving a void or refund: typed credentials (a cashier's screen) or
    the signed-in supervisor (``kiosk.override`` has the rule)."""
    approver = approvals.supervisor_id(
        session, body, action=action, self_id=None, entity="payment", entity_id=payment_id
    )
    if approver is None:
        raise approvals.SupervisorRejected(
            "supervisor_required", "A supervisor must approve this: type their credentials."
        )
    return approver


@bp.route("/payments/<payment_id>/void", methods=["POST"])
@access("cashier", "supervisor")
def void_payment(payment_id: str):
    session = db.session()
    idempotency_key()
    body = json_body()
    payment = _visible_payment(session, payment_id)
    approver = _approver(session, body, "void", payment.id)
    session.expire(payment)  # read it again under the row lock
    payment = _visible_payment(session, payment_id, lock=True)
    gateway = card_gateway(session) if service.card_tender(payment) else None
    service.void_payment(
        session,
        payment,
        supervisor_id=approver,
        actor=actor(),
        reason=_optional_text(body, "reason", 500),
        gateway=gateway,
    )
    session.commit()
    return jsonify(payment_json(payment))


@bp.route("/payments/<payment_id>/refunds", methods=["POST"])
@access("cashier", "supervisor")
def refund_payment(payment_id: str):
    session = db.session()
    key = idempotency_key()
    body = json_body()
    kind = body.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise BadRequest("bad_kind", "kind must be card, cash or check.")
    payment = _visible_payment(session, payment_id)
    # A resent request gets its refund back (or a conflict) without a second approval.
    resent = service.refund_for_key(session, key) is not None
    approver = None if resent else _approver(session, body, "refund", payment.id)
    session.expire(payment)  # read it again under the row lock
    payment = _visible_payment(session, payment_id, lock=True)
    gateway = card_gateway(session) if service.card_tender(payment) else None
    refund = service.refund_payment(
        session,
        payment,
        amount_cents=_cents(body.get("amount_cents"), "amount_cents"),
        supervisor_id=approver,
        refund_key=key,
        actor=actor(),
        kind=kind,
        reason=_optional_text(body, "reason", 500),
        gateway=gateway,
        station_id=current_principal().station_id,  # cash refunds leave this drawer
    )
    session.commit()
    body = payment_json(payment)
    body["refund"] = {
        "id": refund.id,
        "kind": refund.kind,
        "amount_cents": refund.amount_cents,
        "status": refund.status,
    }
    return jsonify(body), 201


def _simulated_reader_or_404(session) -> str:
    if (
        current_app.config.get("CARD_GATEWAY") != "simulated"
        or current_app.config.get("ENV_NAME") == "production"
        or GATEWAY_FACTORY in current_app.extensions
    ):
        raise service.NotFound("not_found", "There is no simulated card reader here.")
    return _reader_id(session)


@bp.route("/simulated-reader/test-card", methods=["GET"])
@access("kiosk", "cashier", "supervisor")
def get_test_card():
    """Demo only: which test card the caller's simulated reader uses next."""
    session = db.session()
    reader = _simulated_reader_or_404(session)
    return jsonify(
        {
            "reader_id": reader,
            "card": simulated.get_test_card(session, reader),
            "cards": list(simulated.TEST_CARDS),
        }
    )


@bp.route("/simulated-reader/test-card", methods=["POST"])
@access("kiosk", "cashier", "supervisor")
def set_test_card():
    """Demo only: choose the test card (approve, a decline, a timeout, a customer cancel)."""
    session = db.session()
    idempotency_key()
    reader = _simulated_reader_or_404(session)
    card = json_body().get("card")
    if card not in simulated.TEST_CARDS:
        raise BadRequest("bad_card", "card must be one of: " + ", ".join(simulated.TEST_CARDS))
    simulated.set_test_card(session, reader, card)
    session.commit()
    return jsonify({"reader_id": reader, "card": card, "cards": list(simulated.TEST_CARDS)})


_ERROR = {"$ref": "#/components/schemas/Error"}
_PAYMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {
            "type": "string",
            "enum": [
                "created",
                "awaiting_card",
                "processing",
                "succeeded",
                "failed",
                "canceled",
                "voided",
                "partially_refunded",
                "refunded",
            ],
        },
        "channel": {"type": "string", "enum": ["kiosk", "counter", "api"]},
        "account_number": {"type": "string"},
        "amount_cents": {"type": "integer"},
        "fee_cents": {"type": "integer"},
        "change_cents": {"type": "integer"},
        "refunded_cents": {"type": "integer"},
        "receipt_number": {"type": ["string", "null"], "examples": ["SA-20261120-0007"]},
        "business_date": {"type": ["string", "null"], "format": "date"},
        "tenders": {"type": "array", "items": {"type": "object"}},
        "card": {
            "type": ["object", "null"],
            "properties": {"brand": {"type": "string"}, "last4": {"type": "string"}},
        },
        "failure": {
            "type": ["object", "null"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
        "reader_status": {
            "type": ["string", "null"],
            "enum": ["offline", None],
            "description": "offline: the card reader could not be reached; the payment is "
            "canceled (failure code reader_offline) once the processor confirms no charge.",
        },
        "void_reason": {
            "type": ["string", "null"],
            "description": "why a supervisor voided it (staff only; not sent to a kiosk)",
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
_ID = {"name": "payment_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _responses(ok: str, *errors: str) -> dict:
    out: dict[str, Any] = {
        ok: {
            "description": "The payment",
            "content": {"application/json": {"schema": _PAYMENT}},
        }
    }
    for status in errors:
        out[status] = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    return out


_TEST_CARD = {
    "type": "object",
    "properties": {
        "reader_id": {"type": "string"},
        "card": {"type": "string", "enum": list(simulated.TEST_CARDS)},
        "cards": {"type": "array", "items": {"type": "string"}},
    },
}

_SUPERVISOR = {
    "type": "object",
    "description": "a supervisor's own credentials, typed on the cashier's screen",
    "required": ["username", "password"],
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
}

OPENAPI_PATHS = {
    "/api/v1/simulated-reader/test-card": {
        "get": {
            "summary": "Demo only: the test card the caller's simulated reader uses next",
            "operationId": "getTestCard",
            "tags": ["payments"],
            "responses": {
                "200": {
                    "description": "The test card",
                    "content": {"application/json": {"schema": _TEST_CARD}},
                },
                "404": {
                    "description": "No simulated reader",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        },
        "post": {
            "summary": "Demo only: choose the simulated reader's test card",
            "operationId": "setTestCard",
            "tags": ["payments"],
            "parameters": [_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["card"],
                            "properties": {
                                "card": {"type": "string", "enum": list(simulated.TEST_CARDS)}
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The test card",
                    "content": {"application/json": {"schema": _TEST_CARD}},
                },
                "400": {
                    "description": "Unknown card",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "404": {
                    "description": "No simulated reader",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        },
    },
    "/api/v1/payments": {
        "post": {
            "summary": "Take a payment (kiosk: card; counter: any tenders)",
            "operationId": "createPayment",
            "tags": ["payments"],
            "parameters": [_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["account_number", "amount_cents"],
                            "properties": {
                                "account_number": {"type": "string"},
                                "amount_cents": {"type": "integer", "minimum": 1},
                                "tenders": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["kind", "amount_cents"],
                                        "properties": {
                                            "kind": {
                                                "type": "string",
                                                "enum": ["card", "cash", "check", "money_order"],
                                            },
                                            "amount_cents": {"type": "integer", "minimum": 1},
                                            "reference": {"type": "string"},
                                            "bank": {"type": "string"},
                                        },
                                    },
                                },
                                "language": {"type": "string", "enum": ["en", "es", "vi"]},
                                "bill_numbers": {"type": "array", "items": {"type": "string"}},
                                "email": {"type": "string", "format": "email"},
                                "confirm_duplicate": {"type": "boolean", "default": False},
                            },
                        }
                    }
                },
            },
            "responses": {
                **_responses("201", "400", "401", "403", "404", "409", "502"),
                "200": {
                    "description": "Replay of an earlier request with the same key",
                    "content": {"application/json": {"schema": _PAYMENT}},
                },
            },
        }
    },
    "/api/v1/payments/{payment_id}": {
        "get": {
            "summary": "Payment status, receipt number, failure and card brand/last four",
            "operationId": "getPayment",
            "tags": ["payments"],
            "parameters": [_ID],
            "responses": _responses("200", "401", "404"),
        }
    },
    "/api/v1/payments/{payment_id}/cancel": {
        "post": {
            "summary": "Cancel a payment that has not taken money",
            "operationId": "cancelPayment",
            "tags": ["payments"],
            "parameters": [_ID, _KEY],
            "responses": _responses("200", "401", "404", "409", "502"),
        }
    },
    "/api/v1/payments/{payment_id}/void": {
        "post": {
            "summary": "Void a payment on its own business day (a supervisor signed in, or "
            "a cashier with a supervisor's typed credentials)",
            "operationId": "voidPayment",
            "tags": ["payments"],
            "parameters": [_ID, _KEY],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "reason": {"type": "string"},
                                "supervisor": _SUPERVISOR,
                            },
                        }
                    }
                }
            },
            "responses": _responses("200", "400", "401", "403", "404", "409", "502"),
        }
    },
    "/api/v1/payments/{payment_id}/refunds": {
        "post": {
            "summary": "Refund after the business day closed, full or partial (a supervisor "
            "signed in, or a cashier with a supervisor's typed credentials)",
            "operationId": "refundPayment",
            "tags": ["payments"],
            "parameters": [_ID, _KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["amount_cents"],
                            "properties": {
                                "amount_cents": {"type": "integer", "minimum": 1},
                                "kind": {"type": "string", "enum": ["card", "cash", "check"]},
                                "reason": {"type": "string"},
                                "supervisor": _SUPERVISOR,
                            },
                        }
                    }
                },
            },
            "responses": _responses("201", "400", "401", "403", "404", "409", "502"),
        }
    },
}
