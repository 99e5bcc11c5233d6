"""StripeTerminal against localstripe plus our Terminal reader stand-in (real HTTP on
127.0.0.1, the official SDK): approve, decline, cancel, refunds, and never twice on retries
even though localstripe ignores idempotency keys."""

from __future__ import annotations

import pytest
import stripe

from payments import service
from payments.gateway import CardRequest, CardStatus, GatewayError
from payments.models import PaymentStatus as S
from payments.stripe_terminal import StripeTerminal
from tests.payments.stripe_terminal.helpers import API_KEY, READER, card_payment, start
from tests.support.terminal_standin import DECLINE_CARD

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")


def request(payment_id: str = "pay-1", cents: int = 4_250) -> CardRequest:
    return CardRequest(payment_id, cents, READER, {"office_id": "1", "account": "100001"})


def client(standin) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": standin.url}, max_network_retries=0)


def succeeded_charges(standin, payment_id: str) -> list[dict]:
    return [
        i["latest_charge"]
        for i in standin.intents()
        if i["metadata"].get("payment_id") == payment_id and i["status"] == "succeeded"
    ]


def test_approve_reports_card_details_but_never_the_number(standin, gateway):
    started = gateway.start(request())
    assert started.status == CardStatus.PENDING and started.intent_id
    assert gateway.poll("pay-1", started.intent_id, READER).status == CardStatus.PENDING

    standin.present(READER)
    result = gateway.poll("pay-1", started.intent_id, READER)

    assert result.status == CardStatus.SUCCEEDED
    assert (result.brand, result.last4, result.amount_cents) == ("visa", "4242", 4_250)
    assert result.auth_code and result.charge_id.startswith("ch_")
    assert "4242424242424242" not in repr(result)
    intent = standin.intents()[0]
    assert intent["metadata"] == {"payment_id": "pay-1", "office_id": "1", "account": "100001"}
    assert intent["capture_method"] == "automatic" and intent["currency"] == "usd"


def test_decline_maps_to_failure_code(standin, gateway):
    started = gateway.start(request())
    standin.present(READER, DECLINE_CARD)
    result = gateway.poll("pay-1", started.intent_id, READER)
    assert result.status == CardStatus.FAILED
    assert result.failure_code == "card_declined"
    assert result.failure_message == "The card was declined."
    # Without the reader (as the sweep sees it) the intent's last error says the same.
    assert gateway.poll("pay-1", started.intent_id, None).failure_code == "card_declined"


def test_cancel_clears_the_reader_and_cancels_the_intent(standin, gateway):
    started = gateway.start(request())
    result = gateway.cancel("pay-1", started.intent_id, READER)
    assert result.status == CardStatus.CANCELED
    assert standin.reader(READER).action is None
    assert standin.intents()[0]["status"] == "canceled"
    # Canceling again is harmless, and a later tap has nothing to pay.
    assert gateway.cancel("pay-1", started.intent_id, READER).status == CardStatus.CANCELED
    assert standin.present(READER) is None


def test_cancel_without_intent_id_finds_it_by_payment_id(standin, gateway):
    gateway.start(request())
    assert gateway.cancel("pay-1", None, READER).status == CardStatus.CANCELED
    assert gateway.cancel("never-started", None, READER).status == CardStatus.CANCELED


def test_cancel_after_approval_reports_the_success(standin, gateway):
    started = gateway.start(request())
    standin.present(READER)
    result = gateway.cancel("pay-1", started.intent_id, READER)
    assert result.status == CardStatus.SUCCEEDED and result.charge_id


def test_refund_partial_then_full_and_repeats_are_not_new_refunds(standin, gateway):
    started = gateway.start(request(cents=10_000))
    standin.present(READER)
    first = gateway.refund("pay-1", "refund-a", started.intent_id, 2_500)
    again = gateway.refund("pay-1", "refund-a", started.intent_id, 2_500)
    rest = gateway.refund("pay-1", "refund-b", started.intent_id, 7_500)
    assert first == again and first.status == "succeeded" and first.amount_cents == 2_500
    assert rest.amount_cents == 7_500 and rest.refund_id != first.refund_id
    refunds = client(standin).v1.refunds.list({"payment_intent": started.intent_id}).data
    assert sorted(r.amount for r in refunds) == [2_500, 7_500]


def test_refund_rejects_nonsense_amounts(standin, gateway):
    with pytest.raises(GatewayError) as err:
        gateway.refund("pay-1", "r", "pi_x", 0)
    assert not err.value.retryable


def test_start_twice_makes_one_intent_and_one_charge(standin, gateway):
    first = gateway.start(request())
    second = gateway.start(request())  # e.g. the kiosk retried after a timeout
    assert second.intent_id == first.intent_id
    standin.present(READER)
    third = gateway.start(request())  # a retry after the card was taken
    assert third.status == CardStatus.SUCCEEDED and third.intent_id == first.intent_id
    assert len(standin.intents()) == 1
    assert len(succeeded_charges(standin, "pay-1")) == 1


def test_lost_create_response_is_retried_without_a_second_intent(standin, gateway):
    standin.fail_next("POST", r"^/v1/payment_intents$", kind="lose_response")
    with pytest.raises(GatewayError) as err:
        gateway.start(request())
    assert err.value.retryable and err.value.code == "processor_unavailable"
    assert len(standin.intents()) == 1  # localstripe made it; we never heard back

    retried = gateway.start(request())
    assert len(standin.intents()) == 1 and retried.intent_id == standin.intents()[0]["id"]
    standin.present(READER)
    assert gateway.find("pay-1").status == CardStatus.SUCCEEDED


def test_lost_handoff_response_is_retried_while_the_reader_waits(standin, gateway):
    standin.fail_next("POST", r"/process_payment_intent$", kind="lose_response")
    with pytest.raises(GatewayError):
        gateway.start(request())
    retried = gateway.start(request())  # the reader is busy with this very intent: fine
    assert retried.status == CardStatus.PENDING
    standin.present(READER)
    assert len(succeeded_charges(standin, "pay-1")) == 1


def test_every_post_carries_a_key_derived_from_the_payment(standin, gateway):
    started = gateway.start(request())
    standin.present(READER)
    gateway.poll("pay-1", started.intent_id, READER)
    gateway.refund("pay-1", "r1", started.intent_id, 100)
    ours = [r for r in standin.requests if r[0] == "POST" and "test_helpers" not in r[1]]
    assert ours and all(key and key.startswith("payoffice:pay-1:") for _, _, key in ours)


def test_find_prefers_the_succeeded_intent_among_strays(standin, gateway):
    assert gateway.find("pay-1") is None
    started = gateway.start(request())
    stray = client(standin).v1.payment_intents.create(
        {"amount": 4_250, "currency": "usd", "metadata": {"payment_id": "pay-1"}}
    )
    standin.present(READER)
    found = gateway.find("pay-1")
    assert found.status == CardStatus.SUCCEEDED and found.intent_id == started.intent_id
    assert {r.intent_id for r in gateway.find_all("pay-1")} == {started.intent_id, stray.id}


def test_reader_offline_and_processor_errors_are_retryable(standin, gateway):
    standin.reader(READER).status = "offline"
    with pytest.raises(GatewayError) as offline:
        gateway.start(request())
    assert offline.value.retryable and offline.value.code == "reader_offline"
    standin.reader(READER).status = "online"

    standin.fail_next("GET", r"^/v1/payment_intents$")
    with pytest.raises(GatewayError) as down:
        gateway.find("pay-1")
    assert down.value.retryable


def test_unreachable_processor_is_retryable():
    gw = StripeTerminal(API_KEY, api_base="http://127.0.0.1:9", max_network_retries=0)
    with pytest.raises(GatewayError) as err:
        gw.find("pay-1")
    assert err.value.retryable and err.value.code == "processor_unavailable"


def test_poll_refuses_an_intent_of_another_payment(standin, gateway):
    started = gateway.start(request("pay-1"))
    with pytest.raises(GatewayError) as err:
        gateway.poll("pay-2", started.intent_id, READER)
    assert err.value.code == "intent_mismatch" and not err.value.retryable
    with pytest.raises(GatewayError) as missing:
        gateway.poll("pay-1", "pi_doesnotexist", READER)
    assert not missing.value.retryable


def test_amount_change_on_retry_is_refused(standin, gateway):
    gateway.start(request(cents=1_000))
    with pytest.raises(GatewayError) as err:
        gateway.start(request(cents=2_000))
    assert err.value.code == "amount_mismatch"


def test_service_card_flow_completes_with_receipt(session, world, standin, gateway):
    payment = start(session, card_payment(session, world, 5_000), gateway)
    assert payment.status == S.AWAITING_CARD and payment.processor_intent_id
    standin.present(READER)
    service.refresh_card(session, payment, gateway, actor="kiosk:1")
    session.commit()
    assert payment.status == S.SUCCEEDED and payment.receipt_number
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert payment.processor_charge_id == succeeded_charges(standin, payment.id)[0]["id"]


def test_service_card_refund_goes_back_to_the_card(session, world, standin, gateway):
    payment = start(session, card_payment(session, world, 3_000), gateway)
    standin.present(READER)
    service.refresh_card(session, payment, gateway, actor="kiosk:1")
    session.commit()
    service.void_payment(
        session, payment, supervisor_id=world.supervisor.id, actor="sup", gateway=gateway
    )
    session.commit()
    assert payment.status == S.VOIDED
    refunds = client(standin).v1.refunds.list({"payment_intent": payment.processor_intent_id})
    assert [r.amount for r in refunds.data] == [3_000]
