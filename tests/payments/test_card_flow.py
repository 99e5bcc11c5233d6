"""The card flow through the service with the simulated reader: approve, declines, reader
timeout, customer cancel, cancel races and idempotent results."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from kiosk.models import Account
from payments import audit, service
from payments.gateway import CardResult, CardStatus, GatewayError
from payments.outbox import OutboxMessage
from payments.simulated import SimulatedReader, get_test_card, set_test_card
from payments.states import InvalidTransition
from tests.payments.conftest import command, tender

READER = "sim-lobby"


def _card(session, world, amount=5000):
    return service.create_payment(session, command(world, amount, tender("card", amount))).payment


def _start(session, world, card="approve", **reader_kw):
    set_test_card(session, READER, card)
    reader = SimulatedReader(session, **reader_kw)
    p = _card(session, world)
    service.start_card(session, p, reader, reader_id=READER, actor="kiosk:1")
    assert p.status == "awaiting_card"
    assert p.processor_intent_id == "sim_pi_" + p.id
    return p, reader


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_approved_card_completes_the_payment(session, world):
    p, reader = _start(session, world)
    service.refresh_card(session, p, reader, actor="kiosk:1")
    session.commit()
    assert p.status == "succeeded"
    assert (p.card_brand, p.card_last4) == ("visa", "4242")
    assert p.card_auth_code and p.processor_charge_id == "sim_ch_" + p.id
    assert p.receipt_number.endswith("-0001")
    assert session.get(Account, world.account.id).balance_cents == 5000
    actions = session.scalars(
        select(audit.AuditEvent.action)
        .where(audit.AuditEvent.entity_id == p.id)
        .order_by(audit.AuditEvent.seq)
    ).all()
    assert actions == [
        "payment.created",
        "payment.awaiting_card",
        "payment.processing",
        "payment.succeeded",
    ]


def test_applying_the_same_success_twice_changes_nothing(session, world):
    p, reader = _start(session, world)
    result = reader.poll(p.id, p.processor_intent_id, READER)
    service.apply_card_result(session, p, result, actor="webhook")
    session.commit()
    counts = (_count(session, audit.AuditEvent), _count(session, OutboxMessage))
    service.apply_card_result(session, p, result, actor="webhook")
    service.refresh_card(session, p, reader, actor="poll")
    session.commit()
    assert (_count(session, audit.AuditEvent), _count(session, OutboxMessage)) == counts
    assert session.get(Account, world.account.id).balance_cents == 5000


@pytest.mark.parametrize("card", ["card_declined", "insufficient_funds", "expired_card"])
def test_declines_fail_the_payment_and_take_nothing(session, world, card):
    p, reader = _start(session, world, card)
    service.refresh_card(session, p, reader, actor="kiosk:1")
    session.commit()
    assert p.status == "failed"
    assert p.failure_code == card and p.failure_message
    assert p.receipt_number is None
    assert _count(session, OutboxMessage) == 0
    assert session.get(Account, world.account.id).balance_cents == 10000


def test_reader_timeout_fails_only_after_the_timeout(session, world):
    now = [dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)]
    p, reader = _start(
        session, world, "reader_timeout", clock=lambda: now[0], timeout=dt.timedelta(seconds=60)
    )
    service.refresh_card(session, p, reader, actor="kiosk:1")
    assert p.status == "awaiting_card"
    now[0] += dt.timedelta(seconds=61)
    service.refresh_card(session, p, reader, actor="kiosk:1")
    assert (p.status, p.failure_code) == ("failed", "reader_timeout")


def test_customer_cancel_on_the_reader(session, world):
    p, reader = _start(session, world, "customer_cancel")
    service.refresh_card(session, p, reader, actor="kiosk:1")
    assert (p.status, p.failure_code) == ("canceled", "customer_canceled")


def test_cancel_before_the_card_is_read(session, world):
    p, reader = _start(session, world)
    service.cancel_payment(session, p, reader, actor="kiosk:1")
    assert (p.status, p.failure_code) == ("canceled", "canceled")
    service.cancel_payment(session, p, reader, actor="kiosk:1")  # again: no change
    service.refresh_card(session, p, reader, actor="kiosk:1")
    assert p.status == "canceled"


def test_cancel_after_approval_completes_instead(session, world):
    p, reader = _start(session, world)
    reader.poll(p.id, p.processor_intent_id, READER)  # the reader approved; we did not hear yet
    service.cancel_payment(session, p, reader, actor="kiosk:1")
    assert p.status == "succeeded" and p.receipt_number


def test_cancel_created_and_refuse_cancel_of_succeeded(session, world):
    p = _card(session, world)
    service.cancel_payment(session, p, None, actor="c")
    assert p.status == "canceled"
    cash = service.create_payment(session, command(world, 300)).payment
    with pytest.raises(InvalidTransition):
        service.cancel_payment(session, cash, None, actor="c")


def test_success_after_we_gave_up_is_flagged_for_staff(session, world):
    p, reader = _start(session, world)
    service.apply_card_result(
        session, p, CardResult(CardStatus.FAILED, failure_code="card_declined"), actor="x"
    )
    ok = CardResult(CardStatus.SUCCEEDED, intent_id=p.processor_intent_id, last4="4242")
    service.apply_card_result(session, p, ok, actor="sweep")
    service.apply_card_result(session, p, ok, actor="sweep")
    assert p.status == "failed" and p.needs_review
    flagged = session.scalars(
        select(audit.AuditEvent).where(
            audit.AuditEvent.action == "payment.card_succeeded_after_close"
        )
    ).all()
    assert len(flagged) == 1


def test_pending_result_moves_to_processing(session, world):
    p, _ = _start(session, world)
    pending = CardResult(CardStatus.PENDING, reader_status="processing")
    service.apply_card_result(session, p, pending, actor="webhook")
    service.apply_card_result(session, p, pending, actor="webhook")
    assert p.status == "processing"


def test_cash_payment_cannot_start_a_card(session, world):
    cash = service.create_payment(session, command(world, 300)).payment
    with pytest.raises(InvalidTransition):
        service.start_card(session, cash, SimulatedReader(session), reader_id=READER, actor="c")


class _Broken:
    def __init__(self, retryable):
        self.retryable = retryable

    def start(self, request):
        raise GatewayError("reader_offline", "The reader is offline.", retryable=self.retryable)

    def find(self, payment_id):
        raise GatewayError("down", "down")

    def cancel(self, payment_id, intent_id, reader_id):
        raise GatewayError("down", "down")


def test_unreachable_reader(session, world):
    p = _card(session, world)
    service.start_card(session, p, _Broken(retryable=False), reader_id=READER, actor="c")
    assert (p.status, p.failure_code) == ("failed", "reader_offline")
    q = service.create_payment(
        session, command(world, 5000, tender("card", 5000), confirm_duplicate=True)
    ).payment
    service.start_card(session, q, _Broken(retryable=True), reader_id=READER, actor="c")
    assert q.status == "awaiting_card"  # settled later by polling or the recovery sweep
    service.refresh_card(session, q, _Broken(retryable=True), actor="c")
    assert q.status == "awaiting_card"


def test_test_card_setting(session):
    assert get_test_card(session, "r9") == "approve"
    set_test_card(session, "r9", "expired_card")
    set_test_card(session, "r9", "insufficient_funds")
    assert get_test_card(session, "r9") == "insufficient_funds"
    with pytest.raises(ValueError):
        set_test_card(session, "r9", "stolen")


def test_simulated_refunds_are_idempotent_and_bounded(session, world):
    p, reader = _start(session, world)
    service.refresh_card(session, p, reader, actor="k")
    first = reader.refund(p.id, "k1", p.processor_intent_id, 3000)
    assert reader.refund(p.id, "k1", p.processor_intent_id, 3000) == first
    assert reader.refund(p.id, "k2", p.processor_intent_id, 2001).status == "failed"
    assert reader.refund(p.id, "k3", p.processor_intent_id, 2000).status == "succeeded"
    with pytest.raises(GatewayError):
        reader.refund("nope", "k4", "x", 1)


def test_two_card_payments_for_the_same_bill_both_succeed_without_overpaying_it(session, world):
    bill = world.bills[0]
    first = service.create_payment(
        session, command(world, 6000, tender("card", 6000), bill_ids=(bill.id,))
    ).payment
    second = service.create_payment(
        session,
        command(world, 6000, tender("card", 6000), bill_ids=(bill.id,), confirm_duplicate=True),
    ).payment
    reader = SimulatedReader(session)
    for p in (first, second):
        service.start_card(session, p, reader, reader_id=READER, actor="k")
    for p in (first, second):
        service.refresh_card(session, p, reader, actor="k")
    session.commit()
    assert first.status == second.status == "succeeded"
    assert [(a.bill_id, a.amount_cents) for a in first.allocations] == [(bill.id, 6000)]
    # the named bill was paid meanwhile: the second goes to the next bill, the rest is credit
    assert [(a.bill_id, a.amount_cents) for a in second.allocations] == [(world.bills[1].id, 4000)]
    session.expire_all()
    assert session.get(Account, world.account.id).balance_cents == 10000 - 12000


def test_card_is_charged_its_tender_including_the_fee_and_voided_in_full(session, world):
    from payments.rules import PaymentRules
    from payments.simulated import SimulatedAttempt

    rules = PaymentRules(card_fee_cents=195)
    p = service.create_payment(session, command(world, 5000, tender("card", 5195)), rules).payment
    reader = SimulatedReader(session)
    service.start_card(session, p, reader, reader_id=READER, actor="k")
    service.refresh_card(session, p, reader, actor="k")
    attempt = session.get(SimulatedAttempt, p.processor_intent_id)
    assert attempt.amount_cents == 5195
    assert p.status == "succeeded" and p.amount_cents == 5000
    service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="s", gateway=reader)
    assert p.status == "voided"
    assert reader.refund(p.id, "again", p.processor_intent_id, 1).status == "failed"


def test_card_results_and_cash_payments_at_once_neither_deadlock_nor_leave_gaps(
    sessions, session, world
):
    import threading

    from payments.models import Payment

    cards = []
    for i in range(6):
        p = service.create_payment(
            session, command(world, 700 + i, tender("card", 700 + i))
        ).payment
        service.start_card(session, p, SimulatedReader(session), reader_id=READER, actor="k")
        cards.append(p.id)
    session.commit()
    errors, barrier = [], threading.Barrier(12)

    def work(i):
        s = sessions()
        try:
            barrier.wait()
            if i < 6:
                p = service.get_payment(s, cards[i], lock=True)
                service.refresh_card(s, p, SimulatedReader(s), actor="webhook")
            else:
                service.create_payment(s, command(world, 900 + i))
            s.commit()
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    session.expire_all()
    seqs = sorted(session.scalars(select(Payment.receipt_seq)).all())
    assert seqs == list(range(1, 13))
    paid = sum(session.scalars(select(Payment.amount_cents)).all())
    assert session.get(Account, world.account.id).balance_cents == 10000 - paid
    assert audit.verify(session).intact
