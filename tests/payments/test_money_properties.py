"""Property tests: whatever sequence of payments, partial payments, voids and refunds runs,
money neither appears nor vanishes. For every account,

    balance now + sum over payments of (amount - refunded, or 0 if voided) == balance before

and every bill's open amount stays within 0..amount, with the paid part of the bills never
more than the money kept."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from kiosk.models import Account, Bill
from payments import service
from payments.models import Payment
from tests.payments.conftest import command, make_world, tender

NEXT_WEEK = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)

_pay = st.tuples(
    st.just("pay"),
    st.integers(1, 15_000),
    st.sampled_from(["cash", "check", "split", "cash_over"]),
)
_void = st.tuples(st.just("void"), st.integers(0, 9), st.just(None))
_refund = st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 15_000))
_ops = st.lists(st.one_of(_pay, _void, _refund), min_size=1, max_size=8)


def _tenders(amount: int, style: str):
    if style == "check":
        return (tender("check", amount),)
    if style == "split" and amount > 1:
        return (tender("check", amount // 2), tender("cash", amount - amount // 2))
    if style == "cash_over":
        return (tender("cash", amount + 777),)
    return (tender("cash", amount),)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=_ops, balance=st.integers(0, 20_000), bills=st.lists(st.integers(0, 8_000), max_size=3))
def test_money_never_appears_or_vanishes(session, office, ops, balance, bills):
    world = make_world(session, office, balance=balance, bills=bills)
    payments: list[Payment] = []
    for op, a, b in ops:
        try:
            if op == "pay":
                cmd = command(world, a, *_tenders(a, b), confirm_duplicate=True)
                p = service.create_payment(session, cmd).payment
                assert sum(t.amount_cents for t in p.tenders) - p.change_cents == p.amount_cents
                payments.append(p)
            elif op == "void" and payments:
                service.void_payment(
                    session,
                    payments[a % len(payments)],
                    supervisor_id=world.supervisor.id,
                    actor="sup",
                )
            elif op == "refund" and payments:
                p = payments[a % len(payments)]
                service.refund_payment(
                    session,
                    p,
                    amount_cents=b,
                    supervisor_id=world.supervisor.id,
                    refund_key=f"{p.id}-{len(p.refunds)}-{b}",
                    actor="sup",
                    now=NEXT_WEEK,
                )
            session.commit()
        except service.PaymentError:
            session.rollback()
    session.expire_all()
    account = session.get(Account, world.account.id)
    kept = 0
    for p in session.scalars(select(Payment).where(Payment.account_id == account.id)):
        assert 0 <= p.refunded_cents <= p.amount_cents
        if p.status != "voided":
            kept += p.amount_cents - p.refunded_cents
    assert account.balance_cents + kept == balance
    open_bills = session.scalars(select(Bill).where(Bill.account_id == account.id)).all()
    for bill in open_bills:
        assert 0 <= bill.open_cents <= bill.amount_cents
    assert sum(b.amount_cents - b.open_cents for b in open_bills) <= kept
