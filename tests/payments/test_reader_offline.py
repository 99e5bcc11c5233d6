"""The card reader cannot be reached when a payment starts: the attempt is canceled at the
processor before anyone is told it failed, and the payment ends ``canceled`` with the failure
code ``reader_offline``. If the processor cannot confirm the cancel, the payment stays in
flight (never reported as failed) and the next poll tries the cancel again."""

from __future__ import annotations

from sqlalchemy import select

from payments import audit, service
from payments.gateway import CardResult, CardStatus, GatewayError
from payments.simulated import READER_OFFLINE, SimulatedReader, set_test_card
from tests.payments.conftest import command, tender

READER = "sim-offline"


class OfflineReader:
    """A gateway whose reader is unreachable at start. The processor side answers cancels
    (``processor_up``) or not, and may report the card as approved after all."""

    def __init__(self, processor_up: bool = True, approved_meanwhile: bool = False):
        self.processor_up = processor_up
        self.approved_meanwhile = approved_meanwhile
        self.cancels: list[str] = []

    def start(self, request):
        raise GatewayError("reader_offline", "Reader is offline.", retryable=True)

    def cancel(self, payment_id, intent_id, reader_id):
        self.cancels.append(payment_id)
        if not self.processor_up:
            raise GatewayError("processor_unavailable", "No answer.", retryable=True)
        if self.approved_meanwhile:
            return CardResult(
                CardStatus.SUCCEEDED, intent_id="pi_1", brand="visa", last4="4242", auth_code="A1"
            )
        return CardResult(CardStatus.CANCELED, intent_id="pi_1")

    def poll(self, payment_id, intent_id, reader_id):
        raise AssertionError("an offline start is settled by cancel, not by polling")

    find = poll


def _card(session, world, amount=5000):
    return service.create_payment(
        session, command(world, amount, tender("card", amount), confirm_duplicate=True)
    ).payment


def test_offline_start_is_canceled_at_the_processor_first(session, world):
    p = _card(session, world)
    gateway = OfflineReader()
    service.start_card(session, p, gateway, reader_id=READER, actor="kiosk:1")
    session.commit()
    assert gateway.cancels == [p.id]
    assert (p.status, p.failure_code) == ("canceled", "reader_offline")
    assert service.reader_offline(p)
    actions = session.scalars(
        select(audit.AuditEvent.action).where(audit.AuditEvent.entity_id == p.id)
    ).all()
    assert "payment.reader_offline" in actions and actions[-1] == "payment.canceled"


def test_unconfirmed_cancel_keeps_the_payment_in_flight_until_a_poll_confirms(session, world):
    p = _card(session, world)
    gateway = OfflineReader(processor_up=False)
    service.start_card(session, p, gateway, reader_id=READER, actor="kiosk:1")
    assert (p.status, p.failure_code) == ("awaiting_card", "reader_offline")
    service.refresh_card(session, p, gateway, actor="kiosk:1")
    assert p.status == "awaiting_card"  # still not confirmed: never reported as failed
    gateway.processor_up = True
    service.refresh_card(session, p, gateway, actor="kiosk:1")
    session.commit()
    assert (p.status, p.failure_code) == ("canceled", "reader_offline")
    assert gateway.cancels == [p.id] * 3


def test_card_approved_before_the_cancel_completes_the_payment(session, world):
    p = _card(session, world)
    service.start_card(
        session, p, OfflineReader(approved_meanwhile=True), reader_id=READER, actor="kiosk:1"
    )
    session.commit()
    assert p.status == "succeeded" and p.failure_code is None
    assert p.receipt_number


def test_simulated_reader_offline_test_card(session, world):
    set_test_card(session, READER, READER_OFFLINE)
    p = _card(session, world)
    service.start_card(session, p, SimulatedReader(session), reader_id=READER, actor="kiosk:1")
    session.commit()
    assert (p.status, p.failure_code) == ("canceled", "reader_offline")
