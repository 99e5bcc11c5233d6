"""Side effects of payment events on the office's account mirror, in the payment's own
transaction: the account balance and the bills' open amounts. ``register()`` is called by
``create_app`` (and by tests that use the domain without an app); calling it twice is harmless.
"""

from __future__ import annotations

from sqlalchemy import Integer, bindparam, select, update
from sqlalchemy.orm import Session

from kiosk.models import Account, Bill
from payments import events
from payments.models import Payment, Refund
from payments.prepared import Prepared


def _account(session: Session, payment: Payment) -> Account:
    stmt = select(Account).where(Account.id == payment.account_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def _bills(session: Session, ids: list[int]) -> dict[int, Bill]:
    if not ids:
        return {}
    stmt = select(Bill).where(Bill.id.in_(ids)).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return {b.id: b for b in session.scalars(stmt)}


# Every payment runs these, so they are prepared statements (see payments.prepared).
_A, _B = Account.__table__, Bill.__table__
_ACCOUNT_MOVE = Prepared(
    update(_A)
    .where(_A.c.id == bindparam("account_id"))
    .values(balance_cents=_A.c.balance_cents + bindparam("delta", type_=Integer))
)
_ACCOUNT_PAID = Prepared(
    update(_A)
    .where(_A.c.id == bindparam("account_id"))
    .values(
        balance_cents=_A.c.balance_cents + bindparam("delta", type_=Integer),
        last_payment_cents=bindparam("cents", type_=Integer),
        last_payment_date=bindparam("day", type_=_A.c.last_payment_date.type),
    )
)
_BILL_MOVE = Prepared(
    update(_B)
    .where(_B.c.id == bindparam("bill_id"))
    .values(open_cents=_B.c.open_cents + bindparam("delta", type_=Integer))
)


def _move(session: Session, payment: Payment, sign: int, paid: bool = False) -> None:
    """Take the payment off the account and its bills (sign -1), or put it back (+1), with
    atomic UPDATEs: concurrent payments on one account cannot lose an update. Account and bill
    objects already loaded in the session are expired, so they show the new amounts."""
    session.flush()  # prepared statements do not autoflush
    params = {"account_id": payment.account_id, "delta": sign * payment.amount_cents}
    if paid:
        params.update(cents=payment.amount_cents, day=payment.business_date)
    (_ACCOUNT_PAID if paid else _ACCOUNT_MOVE).run(session, params)
    _expire(session, Account, payment.account_id)
    for allocation in payment.allocations:
        _BILL_MOVE.run(
            session, {"bill_id": allocation.bill_id, "delta": sign * allocation.amount_cents}
        )
        _expire(session, Bill, allocation.bill_id)


def _expire(session: Session, cls: type, ident: int) -> None:
    if not session.identity_map:
        return
    loaded = session.identity_map.get(cls.__mapper__.identity_key_from_primary_key((ident,)))
    if loaded is not None:
        session.expire(loaded)


def on_succeeded(session: Session, payment: Payment, **_: object) -> None:
    _move(session, payment, -1, paid=True)


def on_voided(session: Session, payment: Payment, **_: object) -> None:
    _move(session, payment, +1)


def on_refunded(session: Session, payment: Payment, *, refund: Refund, **_: object) -> None:
    """Money given back is owed again: reopen the bills it paid, newest allocation first."""
    account = _account(session, payment)
    account.balance_cents += refund.amount_cents
    allocations = sorted(payment.allocations, key=lambda a: a.id or 0, reverse=True)
    bills = _bills(session, [a.bill_id for a in allocations])
    remaining = refund.amount_cents
    for allocation in allocations:
        bill = bills[allocation.bill_id]
        reopen = min(remaining, allocation.amount_cents, bill.amount_cents - bill.open_cents)
        if reopen > 0:
            bill.open_cents += reopen
            remaining -= reopen


def register() -> None:
    events.subscribe(events.PAYMENT_SUCCEEDED, on_succeeded)
    events.subscribe(events.PAYMENT_VOIDED, on_voided)
    events.subscribe(events.PAYMENT_REFUNDED, on_refunded)
