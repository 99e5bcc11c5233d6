"""Staff settle flagged card payments (payments.review) against localstripe and the reader
stand-in: complete with the right charge, refund the stray one, close with a note; the sweep
never flags what a review accounted for."""

from __future__ import annotations

import json

import pytest
import stripe
from sqlalchemy import select

from payments import review, service
from payments.audit import AuditEvent
from payments.gateway import CardRequest
from payments.models import Payment
from payments.models import PaymentStatus as S
from tests.payments.stripe_terminal.helpers import (
    API_KEY,
    READER,
    card_payment,
    charged_after_cancel,
    fresh,
    start,
    sweep,
)

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")
OTHER_READER = "tmr_counter_2"


def client(standin) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})


def second_charge(standin, payment_id: str, cents: int = 5_000) -> str:
    """Another intent claiming the payment, charged on another reader (a retried create that
    the processor did not deduplicate)."""
    stray = client(standin).v1.payment_intents.create(
        {"amount": cents, "currency": "usd", "metadata": {"payment_id": payment_id}}
    )
    client(standin).v1.terminal.readers.process_payment_intent(
        OTHER_READER, {"payment_intent": stray.id}
    )
    standin.present(OTHER_READER)
    return stray.id


def refunds_at_stripe(standin, intent_id: str) -> list:
    return list(client(standin).v1.refunds.list({"payment_intent": intent_id}).data)


def actions(sessions, payment_id: str) -> list[str]:
    with sessions() as s:
        return s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity_id == payment_id)
            .order_by(AuditEvent.seq)
        ).all()


@pytest.fixture
def two_charges(sessions, session, world, standin, gateway):
    """A payment in flight with two succeeded charges: flagged by the sweep."""
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    stray = second_charge(standin, payment.id)
    assert sweep(sessions, gateway).outcomes == {"needs_review": 1}
    return payment.id, fresh(sessions, payment.id).processor_intent_id, stray


def test_two_charges_complete_with_one_refund_the_other_then_close(
    sessions, world, standin, gateway, two_charges
):
    payment_id, own, stray = two_charges
    with sessions() as s:
        [line] = review.flagged(s, world.office.id)
        assert line.payment_id == payment_id and "several succeeded" in line.reason
        assert review.count_flagged(s, world.office.id) == 1
        seen = review.load(s, payment_id, gateway)
    assert seen.in_flight and seen.processor_error is None
    assert {c.intent_id for c in seen.unaccounted} == {own, stray}
    assert not seen.can_close and "not accounted for" in seen.blocker

    with sessions() as s:
        done = review.complete_with(s, payment_id, own, gateway, actor="finance1")
        s.commit()
        assert done.status == S.SUCCEEDED and done.receipt_number and done.needs_review
    with sessions() as s:
        after = review.load(s, payment_id, gateway)
    assert [c.intent_id for c in after.unaccounted] == [stray]
    assert {c.intent_id: c.accounted for c in after.charges}[own] == "payment"
    with sessions() as s, pytest.raises(review.ReviewError) as refused:
        review.close(s, payment_id, gateway, note="checked", actor="finance1")
    assert refused.value.code == "not_settled"

    with sessions() as s:
        refunded = review.refund_charge(s, payment_id, stray, gateway, actor="finance1")
        s.commit()
    assert refunded.accounted == "refunded" and refunded.refund_id
    with sessions() as s:  # asked again (a resent form): no second refund
        review.refund_charge(s, payment_id, stray, gateway, actor="finance1")
        s.commit()
    assert [r.amount for r in refunds_at_stripe(standin, stray)] == [5_000]
    assert refunds_at_stripe(standin, own) == []

    with sessions() as s:
        closed = review.close(
            s, payment_id, gateway, note="double tap at the counter", actor="finance1"
        )
        s.commit()
        assert closed.status == S.SUCCEEDED and not closed.needs_review
    trail = actions(sessions, payment_id)
    assert trail.count(review.REFUNDED) == 1 and trail[-1] == review.CLOSED
    with sessions() as s:
        closing = s.scalars(select(AuditEvent).where(AuditEvent.action == review.CLOSED)).one()
    assert json.loads(closing.details) == {
        "intents": sorted([own, stray]),
        "note": "double tap at the counter",
        "status": "succeeded",
    }

    report = sweep(sessions, gateway)  # the refunded stray charge is accounted for now
    assert report.unmatched == 0 and report.checked == 0
    assert not fresh(sessions, payment_id).needs_review
    with sessions() as s:
        assert review.flagged(s, world.office.id) == []


def test_a_charge_of_another_amount_is_refunded_and_the_payment_canceled(
    sessions, session, world, standin, gateway
):
    payment = card_payment(session, world, 5_000)
    session.close()
    gateway.start(CardRequest(payment.id, 4_000, READER, {}))
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"needs_review": 1}
    with sessions() as s:
        seen = review.load(s, payment.id, gateway)
    [charge] = seen.charges
    assert charge.amount_cents == 4_000 and not seen.can_complete_with(charge)
    with sessions() as s, pytest.raises(review.ReviewError) as refused:
        review.complete_with(s, payment.id, charge.intent_id, gateway, actor="finance1")
    assert refused.value.code == "cannot_complete" and "$50.00" in refused.value.message

    with sessions() as s:
        review.refund_charge(s, payment.id, charge.intent_id, gateway, actor="finance1")
        s.commit()  # each step is its own transaction
        review.close(s, payment.id, gateway, note="customer paid cash", actor="finance1")
        s.commit()
    closed = fresh(sessions, payment.id)
    assert closed.status == S.CANCELED and closed.failure_code == "review_closed"
    assert not closed.needs_review and closed.receipt_number is None
    assert sweep(sessions, gateway).unmatched == 0


def test_a_card_charged_after_the_payment_was_canceled(sessions, session, world, standin, gateway):
    payment = charged_after_cancel(session, world, standin, gateway)
    assert sweep(sessions, gateway).unmatched == 1
    with sessions() as s:
        [line] = review.flagged(s, world.office.id)
        seen = review.load(s, payment.id, gateway)
    assert line.reason == "the card was charged after the payment was canceled"
    assert not seen.in_flight and len(seen.unaccounted) == 1
    with sessions() as s:
        review.refund_charge(s, payment.id, seen.charges[0].intent_id, gateway, actor="f1")
        s.commit()  # each step is its own transaction
        review.close(s, payment.id, gateway, note="refunded", actor="f1")
        s.commit()
    assert fresh(sessions, payment.id).status == S.CANCELED
    assert sweep(sessions, gateway).unmatched == 0
    assert not fresh(sessions, payment.id).needs_review


def test_a_second_charge_for_a_completed_payment(sessions, session, world, standin, gateway):
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"completed": 1}
    again = second_charge(standin, payment.id)
    assert sweep(sessions, gateway).unmatched == 1
    with sessions() as s:
        seen = review.load(s, payment.id, gateway)
    by_intent = {c.intent_id: c for c in seen.charges}
    assert by_intent[fresh(sessions, payment.id).processor_intent_id].accounted == "payment"
    assert [c.intent_id for c in seen.unaccounted] == [again]
    with sessions() as s, pytest.raises(review.ReviewError) as refused:
        review.refund_charge(
            s, payment.id, fresh(sessions, payment.id).processor_intent_id, gateway, actor="f1"
        )
    assert refused.value.code == "not_refundable"  # the receipt's own charge stays
    with sessions() as s:
        review.refund_charge(s, payment.id, again, gateway, actor="f1")
        s.commit()  # each step is its own transaction
        review.close(s, payment.id, gateway, note="second tap refunded", actor="f1")
        s.commit()
    assert fresh(sessions, payment.id).status == S.SUCCEEDED
    assert sweep(sessions, gateway).unmatched == 0


def test_processor_down_nothing_can_be_settled(sessions, world, standin, gateway, two_charges):
    payment_id, own, _ = two_charges
    standin.fail_next("GET", r"^/v1/payment_intents$")
    with sessions() as s:
        seen = review.load(s, payment_id, gateway)
    assert seen.charges == () and seen.processor_error and not seen.can_close
    assert seen.blocker.startswith("The card processor could not be read")
    standin.fail_next("GET", r"^/v1/payment_intents$")
    with sessions() as s, pytest.raises(service.GatewayFailure):
        review.complete_with(s, payment_id, own, gateway, actor="f1")
    assert fresh(sessions, payment_id).status == S.AWAITING_CARD


def test_bad_requests_change_nothing(sessions, session, world, standin, gateway, two_charges):
    payment_id, own, _ = two_charges
    before = actions(sessions, payment_id)
    for note in ("", "   ", None, "x" * (review.MAX_NOTE + 1)):
        with sessions() as s, pytest.raises(service.ValidationError):
            review.close(s, payment_id, gateway, note=note, actor="f1")
    with sessions() as s, pytest.raises(review.ReviewError) as no_charge:
        review.refund_charge(s, payment_id, "pi_not_ours", gateway, actor="f1")
    assert no_charge.value.code == "no_such_charge"
    with sessions() as s, pytest.raises(review.NotFlagged) as elsewhere:
        review.load(s, payment_id, gateway, office_id=world.office.id + 1)
    assert elsewhere.value.status == 404
    with sessions() as s, pytest.raises(review.NotFlagged):
        review.load(s, "no-such-payment", gateway)
    assert actions(sessions, payment_id) == before
    assert fresh(sessions, payment_id).needs_review

    cash = service.create_payment(session, _cash(world)).payment
    session.commit()
    with sessions() as s, pytest.raises(review.NotFlagged) as not_flagged:
        review.load(s, cash.id, gateway)
    assert not_flagged.value.code == "not_flagged"


def _cash(world):
    from tests.payments.conftest import command, tender

    return command(world, 700, tender("cash", 700))


def test_the_card_reconciliation_explains_what_a_review_refunded(
    sessions, world, standin, gateway, two_charges
):
    """Reconciled before the review: the stray charge is an open exception; after the review
    refunded it, the rerun resolves it and its refund with the review's words. Nothing is
    left for finance, and the day's matched charges are unchanged."""
    from payments import reconciliation
    from payments.reconciliation import REVIEW_ACTOR, ReconciliationException
    from payments.stripe_ledger import StripeApiLedger

    payment_id, own, stray = two_charges
    ledger = StripeApiLedger(API_KEY, api_base=standin.url, max_network_retries=0)
    with sessions() as s:
        review.complete_with(s, payment_id, own, gateway, actor="f1")
        s.commit()
        day = s.get(Payment, payment_id).business_date
        before = reconciliation.reconcile(s, world.office.id, day, ledger)
        s.commit()
    assert [f.kind.value for f in before.findings] == ["charge_without_receipt"]
    assert before.new_exceptions == 1 and before.still_open == 1

    with sessions() as s:
        review.refund_charge(s, payment_id, stray, gateway, actor="f1")
        s.commit()  # each step is its own transaction
        review.close(s, payment_id, gateway, note="double tap", actor="f1")
        s.commit()
    with sessions() as s:
        after = reconciliation.reconcile(s, world.office.id, day, ledger)
        s.commit()
        rows = s.scalars(select(ReconciliationException).order_by(ReconciliationException.kind))
        settled = {(r.kind, r.resolved_by, r.resolution_note) for r in rows}
    assert (after.new_exceptions, after.still_open, after.auto_resolved) == (0, 0, 1)
    assert after.matched_count == before.matched_count == 1
    assert settled == {
        (
            "charge_without_receipt",
            REVIEW_ACTOR,
            f"Refunded in full by the review of payment {payment_id}.",
        ),
        (
            "refund_without_record",
            REVIEW_ACTOR,
            f"The review of payment {payment_id} refunded a stray charge with it.",
        ),
    }
    with sessions() as s:  # a third run changes nothing
        again = reconciliation.reconcile(s, world.office.id, day, ledger)
        s.commit()
    assert (again.new_exceptions, again.still_open, again.auto_resolved) == (0, 0, 0)


def test_a_step_refuses_to_share_the_previous_steps_transaction(
    sessions, standin, gateway, two_charges
):
    """Each step ends the transaction before it calls the processor: chained without a
    commit, the second step would roll the first one back. It refuses instead, before
    touching the processor, and the first step's work is still there to commit."""
    payment_id, own, stray = two_charges
    with sessions() as s:
        review.complete_with(s, payment_id, own, gateway, actor="f1")
        with pytest.raises(RuntimeError, match="commit the previous step first"):
            review.refund_charge(s, payment_id, stray, gateway, actor="f1")
        s.commit()
    assert fresh(sessions, payment_id).status == S.SUCCEEDED
    assert refunds_at_stripe(standin, stray) == []
    assert review.COMPLETED in actions(sessions, payment_id)
