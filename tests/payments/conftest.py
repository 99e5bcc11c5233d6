"""Fixtures for the payments domain tests: an office with an account, two open bills and a
supervisor, and a command builder."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass

import pytest

from kiosk import payment_hooks
from kiosk.models import Account, Bill, Office, StaffUser
from payments import service
from payments.rules import PaymentRules
from tests import factories

_keys = itertools.count(1)


@dataclass
class World:
    office: Office
    account: Account
    bills: list[Bill]
    supervisor: StaffUser


@pytest.fixture(autouse=True)
def _hooks():
    payment_hooks.register()


@pytest.fixture
def rules() -> PaymentRules:
    return PaymentRules()


def make_world(session, office, *, balance=10_000, bills=(6_000, 4_000)) -> World:
    account = factories.make_account(session, balance_cents=balance)
    made = [
        factories.make_bill(
            session, account, amount, due_date=dt.date(2026, 10, 25) + dt.timedelta(days=30 * i)
        )
        for i, amount in enumerate(bills)
    ]
    # Built directly: no one signs in here, and password hashing is slow on purpose.
    supervisor = StaffUser(
        username=f"sup{next(_keys)}",
        full_name="Test Supervisor",
        password_hash="!",
        roles="supervisor",
        office_id=office.id,
    )
    session.add(supervisor)
    session.commit()
    return World(session.merge(office), account, made, supervisor)


@pytest.fixture
def world(session, office) -> World:
    return make_world(session, office)


def tender(kind: str, cents: int, reference: str | None = None, bank: str | None = None):
    if reference is None and kind in ("check", "money_order"):
        reference = "1001"
    return service.TenderInput(kind, cents, reference, bank)


def command(world: World, amount: int, *tenders, key: str | None = None, **kw):
    return service.PaymentCommand(
        office_id=world.office.id,
        account_id=kw.pop("account_id", world.account.id),
        account_number=kw.pop("account_number", world.account.number),
        channel=kw.pop("channel", "counter"),
        amount_cents=amount,
        tenders=tuple(tenders) or (tender("cash", amount),),
        idempotency_key=key or f"k-{next(_keys)}-{uuid.uuid4().hex[:8]}",
        actor=kw.pop("actor", "cashier1"),
        **kw,
    )
