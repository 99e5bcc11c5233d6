"""A hand-built business day for the performance-measure tests (expected values worked out
by hand in tests/kiosk/test_measures.py and docs/measures.md)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kiosk.models import Office, QueueTicket, Visit
from payments.models import DrawerSession, Payment
from tests import factories

LA = ZoneInfo("America/Los_Angeles")
DAY = dt.date(2026, 11, 20)  # a Friday; PST, UTC-8
AFTER = dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.UTC)  # "now" for a past day
_keys = itertools.count(1)


def at(hh: int, mm: int, ss: int = 0, us: int = 0, day: dt.date = DAY) -> dt.datetime:
    """An instant given on the office's local clock, returned in UTC."""
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, us, tzinfo=LA).astimezone(dt.UTC)


def ticket(s: Session, office: Office, number: str, issued, called=None, status="done", **kw):
    t = QueueTicket(
        office_id=office.id,
        business_date=kw.pop("business_date", DAY),
        number=number,
        service="billing",
        status=status,
        issued_at=issued,
        called_at=called,
        ended_at=kw.pop("ended", None),
    )
    s.add(t)
    s.flush()
    return t


def visit(s: Session, office: Office, channel: str, started, **kw) -> Visit:
    v = Visit(office_id=office.id, channel=channel, started_at=started, **kw)
    s.add(v)
    s.flush()
    return v


def payment(s: Session, office: Office, account, channel: str, status: str, day=DAY) -> Payment:
    p = Payment(
        office_id=office.id,
        account_id=account.id,
        account_number=account.number,
        channel=channel,
        status=status,
        amount_cents=2500,
        idempotency_key=f"measures-{next(_keys)}",
        business_date=day,
    )
    s.add(p)
    s.flush()
    return p


def drawer(s: Session, office: Office, station, cashier, opened, closed=None, day=DAY):
    d = DrawerSession(
        office_id=office.id,
        station_id=station.id,
        cashier_id=cashier.id,
        business_date=day,
        status="closed" if closed else "open",
        opened_at=opened,
        closed_at=closed,
        float_cents=10000,
    )
    s.add(d)
    s.flush()
    return d


def build_day(s: Session, office: Office) -> dict:
    """Tickets, visits, payments and drawers of DAY (see the expected values in the tests)."""
    t1 = ticket(s, office, "B001", at(9, 0), at(9, 5), ended=at(9, 12))  # wait 300
    # fractions of a second are truncated: 09:01:00 -> 09:15:59 is 899 s
    t2 = ticket(s, office, "B002", at(9, 1, 0, 999999), at(9, 15, 59, 1))  # 899
    ticket(s, office, "B003", at(9, 2), at(9, 17))  # 900: exactly on the target, counts
    ticket(s, office, "B004", at(9, 3), at(9, 18, 1))  # 901: just over
    ticket(s, office, "B005", at(9, 10), at(9, 50))  # 2400
    t6 = ticket(s, office, "B006", at(10, 0), at(10, 20), status="no_show")
    ticket(s, office, "B007", at(15, 0), None, status="waiting")  # still waiting at day end
    saturday = DAY + dt.timedelta(days=1)
    ticket(
        s, office, "B001", at(9, 0, day=saturday), at(9, 1, day=saturday), business_date=saturday
    )

    kiosk, counter = "kiosk", "counter"
    visit(s, office, kiosk, at(8, 58), reason_codes="billing.question", ended_at=at(8, 59),
          outcome_code="ticket_issued", ticket_id=t1.id)  # fmt: skip
    visit(s, office, kiosk, at(9, 30), reason_codes="billing.pay_bill", outcome_code="paid")
    visit(s, office, kiosk, at(10, 30), reason_codes="billing.pay_bill,information.pickup_day",
          outcome_code="paid")  # fmt: skip
    visit(s, office, kiosk, at(11, 0), reason_codes="information.holidays",
          outcome_code="answered")  # fmt: skip
    # called from B001: 420 s of service
    visit(s, office, counter, at(9, 5), called_at=at(9, 5), ended_at=at(9, 12), ticket_id=t1.id,
          reason_codes="billing.question", outcome_code="resolved")  # fmt: skip
    # a walk-in without a ticket: 600 s
    visit(s, office, counter, at(11, 0), ended_at=at(11, 10), reason_codes="billing.pay_bill",
          outcome_code="paid")  # fmt: skip
    # B006 was a no-show: its short visit is not service
    visit(s, office, counter, at(10, 20), called_at=at(10, 20), ended_at=at(10, 22),
          ticket_id=t6.id, reason_codes="", outcome_code="no_show")  # fmt: skip
    # called from B002: 1200 s
    visit(s, office, counter, at(9, 15, 59), called_at=at(9, 15, 59), ended_at=at(9, 35, 59),
          ticket_id=t2.id, reason_codes="billing.balance", outcome_code="resolved")  # fmt: skip
    # 23:30 local on DAY is the next day in UTC: still DAY's
    visit(s, office, kiosk, at(23, 30), reason_codes="")
    # 23:30 local the day before: not DAY's
    thursday = DAY - dt.timedelta(days=1)
    visit(s, office, kiosk, at(23, 30, day=thursday), reason_codes="billing.pay_bill")

    account = factories.make_account(s)
    for channel, status in (
        ("kiosk", "succeeded"),
        ("kiosk", "succeeded"),
        ("kiosk", "failed"),
        ("counter", "succeeded"),
        ("counter", "refunded"),
        ("counter", "voided"),
        ("api", "succeeded"),
    ):
        payment(s, office, account, channel, status)
    payment(s, office, account, "counter", "succeeded", day=DAY + dt.timedelta(days=1))

    cashier = factories.make_staff(s, "cashier", office_id=office.id)
    one, _ = factories.make_station(s, office, "counter", name="Counter 1")
    two, _ = factories.make_station(s, office, "counter", name="Counter 2")
    drawer(s, office, one, cashier, at(8, 0), at(12, 0))  # 4 h
    drawer(s, office, two, cashier, at(9, 0, 0, 500000), at(11, 0, 0, 200000))  # 2 h

    other = factories.make_office(s, "NB", name="North branch")
    ticket(s, other, "B001", at(9, 0), at(12, 0))
    visit(s, other, "kiosk", at(9, 0), reason_codes="billing.pay_bill")
    payment(s, other, account, "kiosk", "succeeded")
    return {"stations": (one, two), "cashier": cashier, "account": account}
