"""POST /webhooks/stripe: signature checked, events mapped to our payment by metadata, the
state read back from Stripe (localstripe + reader stand-in) and applied idempotently."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from sqlalchemy import func, select

from payments.audit import AuditEvent
from payments.models import Payment
from payments.models import PaymentStatus as S
from tests.payments.stripe_terminal.helpers import READER, WEBHOOK_SECRET, card_payment, start
from tests.support.terminal_standin import DECLINE_CARD

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")


def event_body(event_type: str, obj: dict) -> str:
    return json.dumps(
        {
            "id": "evt_test",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    )


def post(app, body: str, secret: str = WEBHOOK_SECRET, header: str | None = None):
    sig = header or stripe.WebhookSignature.generate_signature_header(body, secret)
    return app.test_client().post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": sig, "Content-Type": "application/json"},
    )


def intent_event(payment, event_type: str = "payment_intent.succeeded") -> str:
    return event_body(
        event_type,
        {
            "id": payment.processor_intent_id,
            "object": "payment_intent",
            "metadata": {"payment_id": payment.id},
        },
    )


def audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


def fresh(sessions, payment_id: str) -> Payment:
    with sessions() as s:
        return s.get(Payment, payment_id)


def test_bad_signature_is_refused_and_changes_nothing(
    stripe_app, session, sessions, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    body = intent_event(payment)
    before = audit_count(session)
    session.close()  # the fixture session must not hold SQLite's write lock
    for response in (
        post(stripe_app, body, secret="whsec_wrong"),
        post(stripe_app, body, header="t=1,v1=deadbeef"),
        post(stripe_app, "not json", header="nonsense"),
    ):
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "bad_signature"
    with sessions() as s:
        assert audit_count(s) == before
    assert fresh(sessions, payment.id).status == S.AWAITING_CARD


def test_signed_success_completes_once(stripe_app, session, sessions, world, standin, gateway):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    body = intent_event(payment)
    first = post(stripe_app, body)
    assert first.status_code == 200 and first.get_json()["outcome"] == "completed"
    done = fresh(sessions, payment.id)
    assert done.status == S.SUCCEEDED and done.receipt_number and done.card_last4 == "4242"

    again = post(stripe_app, body)  # Stripe delivers at least once
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"
    assert fresh(sessions, payment.id).receipt_number == done.receipt_number


def test_event_claiming_success_is_checked_with_stripe(
    stripe_app, session, sessions, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    # No card was presented: a (validly signed) event cannot make the payment succeed.
    response = post(stripe_app, intent_event(payment))
    assert response.status_code == 200 and response.get_json()["outcome"] == "pending"
    assert fresh(sessions, payment.id).status == S.AWAITING_CARD


def test_reader_failure_event_maps_by_intent_id(
    stripe_app, session, sessions, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER, DECLINE_CARD)
    reader = standin.reader(READER).export()
    response = post(stripe_app, event_body("terminal.reader.action_failed", reader))
    assert response.status_code == 200 and response.get_json()["outcome"] == "failed"
    failed = fresh(sessions, payment.id)
    assert failed.status == S.FAILED and failed.failure_code == "card_declined"


def test_unknown_events_and_payments_are_ignored(stripe_app, session, world, standin):
    ignored = post(stripe_app, event_body("charge.dispute.created", {"id": "dp_1"}))
    assert ignored.status_code == 200 and ignored.get_json()["handled"] is False
    stranger = post(
        stripe_app,
        event_body(
            "payment_intent.succeeded",
            {"id": "pi_x", "object": "payment_intent", "metadata": {"payment_id": "nope"}},
        ),
    )
    assert stranger.status_code == 200 and stranger.get_json()["outcome"] == "unknown"


def test_without_a_secret_the_webhook_is_closed(app):
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    response = app.test_client().post("/webhooks/stripe", data="{}")
    assert response.status_code == 503


def test_processor_down_asks_stripe_to_retry(
    stripe_app, session, sessions, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.fail_next("GET", r"^/v1/payment_intents")
    response = post(stripe_app, intent_event(payment))
    assert response.status_code == 503
    assert fresh(sessions, payment.id).status == S.AWAITING_CARD


@pytest.mark.parametrize(
    ("card", "status"), [("4242424242424242", S.SUCCEEDED), (DECLINE_CARD, S.FAILED)]
)
def test_real_signed_delivery_from_the_reader(
    live_app, session, sessions, world, standin, gateway, card, status
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER, card)  # waits until both webhooks were delivered
    assert [d.status for d in standin.deliveries] == [200, 200]
    settled = fresh(sessions, payment.id)
    assert settled.status == status
    assert (settled.receipt_number is not None) == (status == S.SUCCEEDED)


def test_stripe_configuration_wires_the_gateway(tmp_path):
    from kiosk import create_app
    from kiosk.config import ConfigError
    from kiosk.webhooks import GATEWAY_FACTORY
    from payments.stripe_terminal import StripeTerminal

    base = {
        "ENV_NAME": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "k",
        "CARD_GATEWAY": "stripe",
    }
    with pytest.raises(ConfigError):
        create_app(base)
    app = create_app(
        {**base, "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_API_BASE": "http://127.0.0.1:9"}
    )
    assert isinstance(app.extensions[GATEWAY_FACTORY](None), StripeTerminal)
    app.extensions["payoffice.db"].engine.dispose()
