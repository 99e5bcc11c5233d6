"""The state machine table: every allowed and every refused transition."""

import itertools

import pytest

from payments import audit, states
from payments.models import Payment, PaymentStatus, TenderLine
from payments.states import InvalidTransition

S = PaymentStatus
ALLOWED_CARD = {
    (S.CREATED, S.AWAITING_CARD),
    (S.CREATED, S.FAILED),
    (S.CREATED, S.CANCELED),
    (S.AWAITING_CARD, S.PROCESSING),
    (S.AWAITING_CARD, S.FAILED),
    (S.AWAITING_CARD, S.CANCELED),
    (S.PROCESSING, S.SUCCEEDED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.CANCELED),
    (S.SUCCEEDED, S.VOIDED),
    (S.SUCCEEDED, S.PARTIALLY_REFUNDED),
    (S.SUCCEEDED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
}
# A payment without a card succeeds straight from created and never waits for a card.
ALLOWED_CASH = (ALLOWED_CARD - {(S.CREATED, S.AWAITING_CARD)}) | {(S.CREATED, S.SUCCEEDED)}


def _payment(status: S, kind: str) -> Payment:
    p = Payment(status=status.value, amount_cents=100)
    p.tenders = [TenderLine(kind=kind, amount_cents=100)]
    return p


@pytest.mark.parametrize("kind", ["card", "cash"])
@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_transition_table(kind, current, target):
    allowed = ALLOWED_CARD if kind == "card" else ALLOWED_CASH
    payment = _payment(current, kind)
    if (current, target) in allowed:
        states.check(payment, target)
    else:
        with pytest.raises(InvalidTransition) as err:
            states.check(payment, target)
        assert err.value.code == "invalid_state"
        assert err.value.status == 409


def test_terminal_states_have_no_way_out():
    for status in states.TERMINAL:
        assert states.TRANSITIONS[status] == frozenset()


def test_transition_is_audited_with_actor(session, office):
    from tests import factories

    account = factories.make_account(session)
    payment = Payment(
        office_id=office.id,
        account_id=account.id,
        account_number=account.number,
        channel="counter",
        amount_cents=100,
        idempotency_key="k-state",
    )
    payment.tenders = [TenderLine(kind="card", amount_cents=100)]
    session.add(payment)
    session.flush()
    states.transition(session, payment, S.AWAITING_CARD, actor="cashier7")
    with pytest.raises(InvalidTransition):
        states.transition(session, payment, S.SUCCEEDED, actor="cashier7")
    session.commit()
    assert payment.status == S.AWAITING_CARD
    from sqlalchemy import select

    events = session.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq)).all()
    last = events[-1]
    assert (last.action, last.actor, last.entity_id) == (
        "payment.awaiting_card",
        "cashier7",
        payment.id,
    )
    assert '"from": "created"' in last.details
    assert audit.verify(session).intact
