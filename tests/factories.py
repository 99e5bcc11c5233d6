"""Factories that build test data through the same code paths the application uses."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from hardware import scanline
from kiosk.models import Account, Bill, Office, StaffUser, Station
from kiosk.staff import create_user
from kiosk.stations import add_station

_seq = itertools.count(1)
PASSWORD = "correct horse battery"  # every factory-made staff user has this password
PIN = "2468"


def make_office(session: Session, code: str = "SA", **kw) -> Office:
    office = Office(
        code=code,
        name=kw.pop("name", "Santa Ana Trash & Recycling Payment Office"),
        address=kw.pop("address", "1245 W 1st St"),
        city_line=kw.pop("city_line", "Santa Ana, CA 92703"),
        phone=kw.pop("phone", "(714) 555-0142"),
        **kw,
    )
    session.add(office)
    session.flush()
    return office


def make_account(session: Session, **kw) -> Account:
    n = next(_seq)
    account = Account(
        number=kw.pop("number", str(100000 + n)),
        kind=kw.pop("kind", "residential"),
        name=kw.pop("name", "MARIA GONZALEZ"),
        house_number=kw.pop("house_number", 1200 + n),
        street_dir=kw.pop("street_dir", "N"),
        street_name=kw.pop("street_name", "BRISTOL"),
        street_suffix=kw.pop("street_suffix", "ST"),
        zip_code=kw.pop("zip_code", "92703"),
        pickup_day=kw.pop("pickup_day", "tuesday"),
        services=kw.pop("services", "trash 96 gal; recycling 96 gal; organics 64 gal"),
        balance_cents=kw.pop("balance_cents", 8450),
        **kw,
    )
    session.add(account)
    session.flush()
    return account


def make_bill(session: Session, account: Account, amount_cents: int | None = None, **kw) -> Bill:
    n = next(_seq)
    amount = account.balance_cents if amount_cents is None else amount_cents
    number = kw.pop("number", f"{2611000000 + n}")
    bill = Bill(
        account_id=account.id,
        number=number,
        period_start=kw.pop("period_start", dt.date(2026, 10, 1)),
        period_end=kw.pop("period_end", dt.date(2026, 10, 31)),
        due_date=kw.pop("due_date", dt.date(2026, 11, 25)),
        amount_cents=amount,
        open_cents=kw.pop("open_cents", amount),
        scanline=kw.pop("scanline", scanline.compose(account.number, number, amount)),
        **kw,
    )
    session.add(bill)
    session.flush()
    return bill


def make_staff(session: Session, role: str, username: str | None = None, **kw) -> StaffUser:
    roles = kw.pop("roles", [role])
    return create_user(
        session,
        username or f"{role}{next(_seq)}",
        kw.pop("full_name", f"Test {role.title()}"),
        kw.pop("password", PASSWORD),
        roles,
        pin=kw.pop("pin", PIN),
        **kw,
    )


def make_station(
    session: Session, office: Office, kind: str = "kiosk", **kw
) -> tuple[Station, str]:
    """A registered station and its pairing code."""
    return add_station(session, office, kw.pop("name", f"{kind}-{next(_seq)}"), kind, **kw)


def open_counter_drawer(
    session: Session,
    office: Office,
    *,
    station: str = "Counter 1",
    cashier: str = "Ana Cashier",
    counts: dict[str, int] | None = None,
):
    """A counter station and a cashier whose drawer is open there on a float (5 x $20 unless
    ``counts``): (drawer, station, cashier)."""
    from payments import drawer

    counter, _ = make_station(session, office, "counter", name=station)
    person = make_staff(session, "cashier", full_name=cashier, office_id=office.id)
    till, _ = drawer.open_drawer(
        session,
        office_id=office.id,
        station_id=counter.id,
        cashier_id=person.id,
        counts=counts or {"bill_20": 5},
        actor=person.username,
    )
    return till, counter, person
