"""The recovery sweep against localstripe + the reader stand-in: every card payment left in
flight is settled from the processor's state."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import stripe
from sqlalchemy import select

from payments import recovery, service
from payments.audit import AuditEvent
from payments.gateway import CardRequest, GatewayError
from payments.models import PaymentStatus as S
from tests.payments.conftest import command, tender
from tests.payments.stripe_terminal.helpers import (
    API_KEY,
    READER,
    card_payment,
    charged_after_cancel,
    fresh,
    start,
    sweep,
)
from tests.support.terminal_standin import DECLINE_CARD

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")


def card_request(payment, cents: int | None = None) -> CardRequest:
    return CardRequest(payment.id, cents or payment.amount_cents, READER, {})


def test_approved_at_stripe_completes_locally(sessions, session, world, standin, gateway):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    report = sweep(sessions, gateway)
    assert report.outcomes == {"completed": 1} and report.errors == 0
    done = fresh(sessions, payment.id)
    assert done.status == S.SUCCEEDED and done.receipt_number and done.card_auth_code
    assert sweep(sessions, gateway).checked == 0  # nothing left in flight


def test_decline_fails_locally(sessions, session, world, standin, gateway):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER, DECLINE_CARD)
    assert sweep(sessions, gateway).outcomes == {"failed": 1}
    failed = fresh(sessions, payment.id)
    assert failed.status == S.FAILED and failed.failure_code == "card_declined"


def test_pending_is_left_alone_until_abandoned_then_canceled_everywhere(
    sessions, session, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    assert sweep(sessions, gateway).outcomes == {"pending": 1}
    assert fresh(sessions, payment.id).status == S.AWAITING_CARD

    assert sweep(sessions, gateway, later=True).outcomes == {"canceled": 1}
    canceled = fresh(sessions, payment.id)
    assert canceled.status == S.CANCELED and canceled.failure_code == "abandoned"
    assert standin.intents()[0]["status"] == "canceled"
    assert standin.reader(READER).action is None


def test_crash_inside_start_is_found_by_payment_id(sessions, session, world, standin, gateway):
    """The intent was made and the card taken, but our transaction never committed."""
    payment = card_payment(session, world)
    session.close()
    gateway.start(card_request(payment))
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"completed": 1}
    done = fresh(sessions, payment.id)
    assert done.status == S.SUCCEEDED and done.processor_intent_id == standin.intents()[0]["id"]


def test_never_reached_stripe_is_canceled_when_abandoned(sessions, session, world, gateway):
    payment = card_payment(session, world)
    session.close()
    assert sweep(sessions, gateway).outcomes == {"pending": 1}
    assert sweep(sessions, gateway, later=True).outcomes == {"canceled": 1}
    assert fresh(sessions, payment.id).status == S.CANCELED


def test_two_charges_for_one_payment_go_to_staff(sessions, session, world, standin, gateway):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    # A second, separately charged intent claiming the same payment id.
    other_reader = "tmr_counter_2"
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    stray = client.v1.payment_intents.create(
        {"amount": 5_000, "currency": "usd", "metadata": {"payment_id": payment.id}}
    )
    client.v1.terminal.readers.process_payment_intent(other_reader, {"payment_intent": stray.id})
    standin.present(other_reader)

    assert sweep(sessions, gateway).outcomes == {"needs_review": 1}
    flagged = fresh(sessions, payment.id)
    assert flagged.needs_review and flagged.status == S.AWAITING_CARD
    with sessions() as s:
        entry = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "payment.needs_review")
        ).one()
    assert entry.entity_id == payment.id
    assert set(json.loads(entry.details)["intents"]) == {payment.processor_intent_id, stray.id}
    assert sweep(sessions, gateway).checked == 0  # staff have it now


def test_amount_mismatch_goes_to_staff(sessions, session, world, standin, gateway):
    payment = card_payment(session, world, 5_000)
    session.close()
    gateway.start(card_request(payment, cents=4_000))
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"needs_review": 1}
    assert fresh(sessions, payment.id).needs_review


def test_stray_pending_intent_is_canceled_when_one_succeeded(
    sessions, session, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    stray = client.v1.payment_intents.create(
        {"amount": 5_000, "currency": "usd", "metadata": {"payment_id": payment.id}}
    )
    assert sweep(sessions, gateway).outcomes == {"completed": 1}
    assert client.v1.payment_intents.retrieve(stray.id).status == "canceled"


def test_one_unreachable_payment_does_not_stop_the_sweep(
    sessions, session, world, standin, gateway
):
    first = start(session, card_payment(session, world, 1_000), gateway)
    standin.present(READER)
    second = start(session, card_payment(session, world, 2_000), gateway, close=True)
    standin.present(READER)
    standin.fail_next("GET", r"^/v1/payment_intents$")  # the first payment's lookup fails
    report = sweep(sessions, gateway)
    assert report.errors == 1 and report.outcomes == {"completed": 1}
    assert fresh(sessions, first.id).status == S.AWAITING_CARD
    assert fresh(sessions, second.id).status == S.SUCCEEDED
    assert sweep(sessions, gateway).outcomes == {"completed": 1}


def test_gateway_factory_and_non_card_payments(sessions, session, world, standin, gateway):
    cash = service.create_payment(session, command(world, 700, tender("cash", 1_000))).payment
    session.commit()
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    report = sweep(sessions, lambda _session: gateway)
    assert report.checked == 1 and report.outcomes == {"completed": 1}
    assert fresh(sessions, cash.id).status == S.SUCCEEDED
    assert fresh(sessions, payment.id).status == S.SUCCEEDED


def test_settle_unknown_payment_and_gateway_errors(sessions, gateway):
    assert recovery.settle_payment(sessions, "no-such-payment", gateway) == "unknown"
    with pytest.raises(GatewayError):
        gateway.poll("x", "pi_missing", None)


def test_worker_task_settles_with_the_apps_gateway(
    stripe_app, session, sessions, world, standin, gateway
):
    from kiosk.webhooks import recovery_task

    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    report = recovery_task(stripe_app)()
    assert report.outcomes == {"completed": 1}
    assert fresh(sessions, payment.id).status == S.SUCCEEDED


def test_worker_runs_the_sweep_at_start_up(sessions):
    import threading

    from kiosk.worker import run_worker

    stop, ran = threading.Event(), []

    def task():
        ran.append(True)
        stop.set()

    run_worker(sessions, {}, interval=0.01, stop=stop, periodic=[(60.0, task)])
    assert ran == [True]


def test_simulated_reader_payments_are_swept_in_one_transaction(app, session, sessions, world):
    from kiosk.webhooks import recovery_task
    from payments.simulated import SimulatedReader

    payment = card_payment(session, world)
    service.start_card(session, payment, SimulatedReader(session), reader_id="sim-1", actor="k")
    session.commit()
    session.close()
    report = recovery.sweep(sessions, SimulatedReader, abandon_after=dt.timedelta(0))
    assert report.errors == 0 and report.checked == 1
    assert fresh(sessions, payment.id).status in (S.SUCCEEDED, S.CANCELED, S.FAILED)
    assert recovery_task(app) is not None


def test_charge_without_a_payment_is_reported_once(sessions, standin, gateway):
    gateway.start(CardRequest("ghost-payment", 1_500, READER, {}))  # its row never committed
    standin.present(READER)
    assert sweep(sessions, gateway).unmatched == 1
    assert sweep(sessions, gateway).unmatched == 1  # still unmatched, audited once
    with sessions() as s:
        entries = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "card.unmatched_charge")
        ).all()
    assert len(entries) == 1 and json.loads(entries[0].details)["payment_id"] == "ghost-payment"


def test_charge_for_a_canceled_payment_goes_to_staff(sessions, session, world, standin, gateway):
    payment = charged_after_cancel(session, world, standin, gateway)
    assert sweep(sessions, gateway).unmatched == 1
    flagged = fresh(sessions, payment.id)
    assert flagged.needs_review and flagged.status == S.CANCELED


def test_second_charge_for_a_completed_payment_goes_to_staff(
    sessions, session, world, standin, gateway
):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"completed": 1}
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    again = client.v1.payment_intents.create(
        {"amount": 5_000, "currency": "usd", "metadata": {"payment_id": payment.id}}
    )
    client.v1.terminal.readers.process_payment_intent("tmr_other", {"payment_intent": again.id})
    standin.present("tmr_other")
    report = sweep(sessions, gateway)
    assert report.unmatched == 1
    done = fresh(sessions, payment.id)
    assert done.needs_review and done.status == S.SUCCEEDED
