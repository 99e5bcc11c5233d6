"""``POST /webhooks/stripe``: Stripe tells us a reader action or a PaymentIntent finished.

The signature is verified with ``PAYOFFICE_STRIPE_WEBHOOK_SECRET``; a bad one gets 400 and
changes nothing. An event only names the payment: the state is then read back from Stripe and
applied by ``payments.recovery.settle_payment`` (the same path as the recovery sweep), so
events arriving twice, late or out of order cannot move a payment the wrong way. Unknown
event types are acknowledged and ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import stripe
from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy import select

from kiosk import db
from kiosk.access import access
from kiosk.security import api_error, csrf
from payments import crashpoints, recovery
from payments.gateway import GatewayError
from payments.models import Payment
from payments.states import PaymentError

bp = Blueprint("webhooks", __name__)

GATEWAY_FACTORY = "payoffice.card_gateway_factory"  # same key as kiosk.api.payments
READER_EVENTS = ("terminal.reader.action_succeeded", "terminal.reader.action_failed")
INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")


def init_app(app: Flask) -> None:
    """Register the webhook and, with ``PAYOFFICE_CARD_GATEWAY=stripe``, the Stripe gateway."""
    app.register_blueprint(bp)
    csrf.exempt(bp)
    if app.config.get("CARD_GATEWAY") == "stripe" and GATEWAY_FACTORY not in app.extensions:
        from payments.stripe_terminal import StripeTerminal

        gateway = StripeTerminal.from_settings(app.config)
        app.extensions[GATEWAY_FACTORY] = lambda _session: gateway


def _field(obj: Any, *path: str) -> Any:
    for key in path:
        if obj is None or isinstance(obj, str):
            return None
        try:
            obj = obj[key] if key in obj else None  # noqa: SIM401 - Stripe objects lack .get
        except (KeyError, TypeError):
            return None
    return obj


def _payment_id(event: Any) -> str | None:
    """Our payment id for an event we handle, or None."""
    obj = _field(event, "data", "object")
    if event.type in INTENT_EVENTS:
        return _field(obj, "metadata", "payment_id")
    intent = _field(obj, "action", "process_payment_intent", "payment_intent")
    intent_id = intent if isinstance(intent, str) else _field(intent, "id")
    if not intent_id:
        return None
    with db.database().sessions() as session:
        return session.scalar(select(Payment.id).where(Payment.processor_intent_id == intent_id))


@bp.route("/webhooks/stripe", methods=["POST"])
@access("public")
def stripe_webhook():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        return api_error(503, "webhooks_disabled", "Stripe webhooks are not configured here.")
    try:
        event = stripe.Webhook.construct_event(
            request.get_data(), request.headers.get("Stripe-Signature", ""), secret
        )
    except (ValueError, stripe.SignatureVerificationError):
        return api_error(400, "bad_signature", "The webhook signature could not be verified.")
    crashpoints.reach("webhook.received")
    if event.type not in READER_EVENTS + INTENT_EVENTS:
        return jsonify({"received": True, "handled": False})
    payment_id = _payment_id(event)
    factory = current_app.extensions.get(GATEWAY_FACTORY)
    if payment_id is None or factory is None:
        return jsonify({"received": True, "handled": False})
    try:
        outcome = recovery.settle_payment(
            db.database().sessions, payment_id, factory, actor="stripe-webhook"
        )
    except GatewayError as exc:  # Stripe retries the event; the sweep is the backstop
        return api_error(503, "processor_unavailable", exc.message)
    except PaymentError as exc:
        return api_error(409, exc.code, exc.message)
    return jsonify({"received": True, "handled": True, "outcome": outcome})


def recovery_task(app: Flask) -> Callable[[], recovery.SweepReport] | None:
    """The recovery sweep for ``payoffice worker`` (start-up and every minute), or None when
    no card gateway that can be swept is configured."""
    source = app.extensions.get(GATEWAY_FACTORY)
    if source is None and app.config.get("CARD_GATEWAY", "simulated") == "simulated":
        from payments.simulated import SimulatedReader

        source = SimulatedReader
    if source is None:
        return None
    sessions = app.extensions["payoffice.db"].sessions
    abandon_after = dt.timedelta(minutes=int(app.config.get("CARD_ABANDON_MINUTES") or 15))

    def run() -> recovery.SweepReport:
        return recovery.sweep(sessions, source, abandon_after=abandon_after)

    return run
