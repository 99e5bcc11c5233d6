"""Fixtures for receipts: an office with a counter and a kiosk station, a payment maker, the
emupos printer simulator (one per test session, faults cleared before every test) and a local
SMTP server."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass

import pytest

from kiosk import receipting
from kiosk.models import Account, Bill, Office, StaffUser, Station
from payments import service
from tests import factories
from tests.hardware.conftest import loopback  # noqa: F401  (shared fixture)

_keys = itertools.count(1)


@dataclass
class World:
    office: Office
    account: Account
    bills: list[Bill]
    cashier: StaffUser
    counter: Station
    kiosk: Station


@pytest.fixture(autouse=True)
def _subscribed():
    receipting.register()


def make_world(session, office, printer_url: str | None = None) -> World:
    account = factories.make_account(session, name="NGUYỄN VĂN AN", balance_cents=12_000)
    bills = [
        factories.make_bill(session, account, 8_000, due_date=dt.date(2026, 10, 25)),
        factories.make_bill(session, account, 4_000, due_date=dt.date(2026, 11, 25)),
    ]
    office = session.merge(office)
    # Built directly: nobody signs in here, and password hashing is slow on purpose.
    cashier = StaffUser(
        username=f"ana{uuid.uuid4().hex[:6]}",
        full_name="Ana Ruiz",
        password_hash="-",
        roles="cashier",
        office_id=office.id,
    )
    session.add(cashier)
    counter, _ = factories.make_station(
        session, office, "counter", name="Counter 1", printer_url=printer_url
    )
    kiosk, _ = factories.make_station(
        session, office, "kiosk", name="Kiosk 1", printer_url=printer_url
    )
    session.commit()
    return World(office, account, bills, cashier, counter, kiosk)


@pytest.fixture
def world(session, office) -> World:
    return make_world(session, office)


def pay(
    session,
    world: World,
    amount: int,
    *tenders: service.TenderInput,
    at: str = "counter",
    language: str = "en",
    email: str | None = None,
    station_id: int | None = None,
):
    """A completed payment, committed, as the counter or the kiosk makes it."""
    station_id = station_id or (world.counter if at == "counter" else world.kiosk).id
    cmd = service.PaymentCommand(
        office_id=world.office.id,
        account_id=world.account.id,
        account_number=world.account.number,
        channel=at,
        amount_cents=amount,
        tenders=tuple(tenders) or (service.TenderInput("cash", amount),),
        idempotency_key=f"r-{next(_keys)}-{uuid.uuid4().hex[:8]}",
        station_id=station_id,
        staff_user_id=world.cashier.id if at == "counter" else None,
        language=language,
        email=email,
        actor="test",
        confirm_duplicate=True,
    )
    payment = service.create_payment(session, cmd).payment
    if payment.status == "created":  # a card tender: the reader approves it
        from payments.gateway import CardResult, CardStatus
        from payments.simulated import SimulatedReader

        service.start_card(session, payment, SimulatedReader(session), reader_id="sim", actor="t")
        approved = CardResult(
            CardStatus.SUCCEEDED,
            intent_id=payment.processor_intent_id,
            brand="visa",
            last4="4242",
            auth_code="A1B2C3",
        )
        service.apply_card_result(session, payment, approved, actor="test")
    session.commit()
    return payment


@pytest.fixture(scope="session")
def emupos_server(tmp_path_factory):
    from tests.support import emupos

    server = emupos.start(tmp_path_factory.mktemp("emupos"))
    yield server
    server.stop()


@pytest.fixture
def printer(emupos_server):
    """The simulated printer, healthy and with its drawer closed."""
    emupos_server.reset()
    return emupos_server


@pytest.fixture
def smtp_server():
    from tests.support.smtp import start_smtp

    server = start_smtp()
    yield server
    server.stop()
