"""Side effects of payment events on the office's account mirror, in the payment's own
transaction: the account balance and the bills' open amounts. ``register()`` is called by
``create_app`` (and by tests that use the domain without an app); calling it twice is harmless.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiosk.models import Account, Bill
from payments import events
from payments.models import Payment, Refund


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


def _move(session: Session, payment: Payment, sign: int, **account_values: object) -> None:
    """Take the payment off the account and its bills (sign -1), or put it back (+1), with
    atomic UPDATEs: concurrent payments on one account cannot lose an update."""
    session.execute(
        update(Account)
        .where(Account.id == payment.account_id)
        .values(balance_cents=Account.balance_cents + sign * payment.amount_cents, **account_values)
    )
    for allocation in payment.allocations:
        session.execute(
            update(Bill)
            .where(Bill.id == allocation.bill_id)
            .values(open_cents=Bill.open_cents + sign * allocation.amount_cents)
        )


def on_succeeded(session: Session, payment: Payment, **_: object) -> None:
    _move(
        session,
        payment,
        -1,
        last_payment_cents=payment.amount_cents,
        last_payment_date=payment.business_date,
    )


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
