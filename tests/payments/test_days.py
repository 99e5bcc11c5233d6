"""Business day close: refused while a drawer, a payment or a CIS posting is open (unless an
audited exception), locked once closed, reopened only by finance plus a supervisor."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from sqlalchemy import select

from kiosk.models import StaffUser
from payments import audit, days, drawer, outbox, service
from payments.db import business_date
from payments.models import BusinessDay
from payments.posting import CIS_TOPICS
from tests import factories
from tests.payments.conftest import command, tender

_users = itertools.count(1)


def deliver_cis(sessions) -> None:
    """Deliver every pending CIS posting (the CIS here is a handler that acknowledges)."""
    outbox.deliver_due(sessions, {topic: (lambda m: "ack") for topic in CIS_TOPICS}, limit=1000)


def today() -> dt.date:
    return business_date()


def _cash(session, world, amount=3000):
    p = service.create_payment(session, command(world, amount, confirm_duplicate=True)).payment
    session.commit()
    return p


def _staff(session, office, roles: str) -> StaffUser:
    user = StaffUser(
        username=f"{roles.replace(',', '-')}{next(_users)}",
        full_name=f"Test {roles}",
        password_hash="!",
        roles=roles,
        office_id=office.id,
    )
    session.add(user)
    session.commit()
    return user


def _audit(session, action):
    return session.scalars(select(audit.AuditEvent).where(audit.AuditEvent.action == action)).all()


def test_a_quiet_day_closes_and_is_audited(session, world):
    outcome = days.close_day(session, world.office.id, today(), "fin1")
    session.commit()
    assert outcome.day.status == "closed" and outcome.blockers == []
    assert days.is_locked(session, world.office.id, today())
    (event,) = _audit(session, "day.closed")
    assert event.actor == "fin1" and event.entity_id == f"SA:{today().isoformat()}"
    again = days.close_day(session, world.office.id, today(), "fin1")
    assert again.already_closed
    assert len(_audit(session, "day.closed")) == 1


def test_close_refused_while_a_payment_is_in_flight(session, sessions, world):
    card = service.create_payment(session, command(world, 5000, tender("card", 5000))).payment
    session.commit()
    assert card.status == "created"
    with pytest.raises(days.DayNotReady) as err:
        days.close_day(session, world.office.id, today(), "fin1")
    assert [b.code for b in err.value.blockers] == ["payments_in_flight"]
    assert err.value.status == 409 and err.value.code == "day_not_ready"
    session.rollback()
    assert days.get_day(session, world.office.id, today()) is None
    service.cancel_payment(session, card, None, actor="cashier1")
    session.commit()
    days.close_day(session, world.office.id, today(), "fin1")


def test_close_refused_with_an_undelivered_cis_posting(session, sessions, world):
    _cash(session, world)
    with pytest.raises(days.DayNotReady) as err:
        days.close_day(session, world.office.id, today(), "fin1")
    assert [b.code for b in err.value.blockers] == ["cis_undelivered"]
    session.rollback()
    deliver_cis(sessions)
    assert days.close_day(session, world.office.id, today(), "fin1").day.status == "closed"


def test_a_posting_written_after_the_days_end_does_not_hold_it(session, world):
    yesterday = today() - dt.timedelta(days=1)
    _cash(session, world)  # written today: after yesterday's end
    assert days.close_blockers(session, world.office.id, yesterday) == []
    assert days.close_blockers(session, world.office.id, today())[0].code == "cis_undelivered"


def test_only_this_offices_undelivered_postings_hold_its_close(session, world):
    from tests.payments.conftest import make_world

    other = make_world(session, factories.make_office(session, code="NB", name="North office"))
    p = _cash(session, other)
    (message,) = session.scalars(select(outbox.OutboxMessage)).all()
    assert (message.key, message.office_id) == (p.id, other.office.id)
    assert days.close_blockers(session, world.office.id, today()) == []
    assert days.close_blockers(session, other.office.id, today())[0].count == 1
    # A posting that names no office holds every office's close.
    outbox.enqueue(session, "cis.visit", "v-unknown", {"record_type": "visit"})
    session.commit()
    assert [b.count for b in days.close_blockers(session, world.office.id, today())] == [1]
    assert [b.count for b in days.close_blockers(session, other.office.id, today())] == [2]


def test_close_with_an_exception_is_audited_with_what_was_open(session, world):
    _cash(session, world)
    outcome = days.close_day(
        session, world.office.id, today(), "fin1", exception="CIS down since 4 pm, ticket 8812"
    )
    session.commit()
    assert outcome.day.status == "closed"
    assert outcome.day.notes == "CIS down since 4 pm, ticket 8812"
    (event,) = _audit(session, "day.closed_with_exception")
    details = json.loads(event.details)
    assert details["exception"] == "CIS down since 4 pm, ticket 8812"
    assert details["blockers"][0]["code"] == "cis_undelivered"
    assert audit.verify(session).intact


def test_close_refuses_bad_input_and_future_days(session, world):
    with pytest.raises(days.DayError) as err:
        days.close_day(session, world.office.id, today() + dt.timedelta(days=2), "fin1")
    assert err.value.code == "day_not_over"
    with pytest.raises(days.DayError) as err:
        days.close_day(session, world.office.id, today(), "fin1", exception="x" * 1001)
    assert err.value.code == "bad_exception"
    with pytest.raises(days.DayError) as err:
        days.close_day(session, 9999, today(), "fin1")
    assert err.value.code == "office_not_found"
    assert session.scalars(select(BusinessDay)).all() == []


def test_open_drawers_hold_the_day(session, world):
    station, _ = factories.make_station(session, world.office, "counter", name="Counter 1")
    cashier = _staff(session, world.office, "cashier")
    till, _ = drawer.open_drawer(
        session,
        office_id=world.office.id,
        station_id=station.id,
        cashier_id=cashier.id,
        counts={"bill_20": 5},
        actor="cashier",
    )
    session.commit()
    with pytest.raises(days.DayNotReady) as err:
        days.close_day(session, world.office.id, today(), "fin1")
    assert [b.code for b in err.value.blockers] == ["open_drawers"]
    session.rollback()
    drawer.close_drawer(
        session, till, counts={"bill_20": 5}, closed_by_id=cashier.id, actor="cashier"
    )
    session.commit()
    assert days.close_day(session, world.office.id, today(), "fin1").day.status == "closed"


def test_a_closed_day_refuses_payments_and_voids(session, sessions, world):
    paid = _cash(session, world)
    deliver_cis(sessions)
    days.close_day(session, world.office.id, today(), "fin1")
    session.commit()
    with pytest.raises(days.DayClosed) as err:
        service.create_payment(session, command(world, 1000, confirm_duplicate=True))
    assert err.value.code == "day_closed" and err.value.status == 409
    session.rollback()
    with pytest.raises(service.PaymentError) as err:
        service.void_payment(session, paid, supervisor_id=world.supervisor.id, actor="sup")
    assert err.value.code == "day_closed"
    session.rollback()
    with pytest.raises(days.DayClosed):
        days.ensure_day_open(session, world.office.id, today())
    days.ensure_day_open(session, world.office.id, today() + dt.timedelta(days=1))


def test_a_refund_never_lands_in_a_closed_day(session, sessions, world):
    paid = _cash(session, world)
    deliver_cis(sessions)
    days.close_day(session, world.office.id, today(), "fin1")
    tomorrow = today() + dt.timedelta(days=1)
    session.add(BusinessDay(office_id=world.office.id, business_date=tomorrow, status="closed"))
    session.commit()
    refund = service.refund_payment(
        session,
        paid,
        amount_cents=500,
        supervisor_id=world.supervisor.id,
        refund_key="late-1",
        actor="sup",
    )
    session.commit()
    # Today and tomorrow are closed: the late correction goes into the next open day.
    assert refund.business_date == today() + dt.timedelta(days=2)
    assert days.next_open_date(session, world.office.id, today()) == refund.business_date


def test_reopen_needs_finance_and_a_different_supervisor(session, sessions, world):
    days.close_day(session, world.office.id, today(), "fin1")
    session.commit()
    finance = _staff(session, world.office, "finance")
    both = _staff(session, world.office, "finance,supervisor")
    cashier = _staff(session, world.office, "cashier")
    office_id, day = world.office.id, today()

    def reopen(fin, sup, reason="count error in drawer 2"):
        return days.reopen_day(
            session,
            office_id,
            day,
            finance_user_id=fin,
            supervisor_id=sup,
            reason=reason,
            actor="fin",
        )

    for fin, sup, code in [
        (both.id, both.id, "two_people_required"),
        (finance.id, None, "two_people_required"),
        (cashier.id, world.supervisor.id, "not_finance"),
        (finance.id, cashier.id, "not_supervisor"),
    ]:
        with pytest.raises(days.DayError) as err:
            reopen(fin, sup)
        assert err.value.code == code
    with pytest.raises(days.DayError) as err:
        reopen(finance.id, world.supervisor.id, reason=" ")
    assert err.value.code == "reason_required"
    assert days.is_locked(session, office_id, day)

    record = reopen(finance.id, world.supervisor.id)
    session.commit()
    assert record.status == "reopened"
    (event,) = _audit(session, "day.reopened")
    details = json.loads(event.details)
    assert details["finance_user_id"] == finance.id
    assert details["supervisor_id"] == world.supervisor.id
    # reopened: payments land again, and the day can be closed again
    service.create_payment(session, command(world, 1000, confirm_duplicate=True))
    session.commit()
    with pytest.raises(days.DayError) as err:
        reopen(finance.id, world.supervisor.id)
    assert err.value.code == "day_not_closed"
    session.rollback()
    deliver_cis(sessions)
    assert days.close_day(session, office_id, day, "fin1").day.status == "closed"
