"""Void (same business day, supervisor, exact reversal, keeps the receipt number) and refund
(after the day closed, full or partial, never more than paid)."""

import datetime as dt

import pytest
from sqlalchemy import select

from kiosk.models import Account, Bill
from payments import audit, service
from payments.models import BusinessDay, Payment
from payments.outbox import OutboxMessage
from payments.posting import CIS_REFUND_TOPIC, CIS_VOID_TOPIC
from payments.simulated import SimulatedReader
from payments.states import InvalidTransition
from tests.payments.conftest import command, tender

NEXT_WEEK = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def _state(session, world):
    session.expire_all()
    account = session.get(Account, world.account.id)
    return account.balance_cents, [session.get(Bill, b.id).open_cents for b in world.bills]


def _cash_payment(session, world, amount=7000):
    p = service.create_payment(session, command(world, amount, confirm_duplicate=True)).payment
    session.commit()
    return p


def _card_payment(session, world, amount=7000):
    p = service.create_payment(session, command(world, amount, tender("card", amount))).payment
    reader = SimulatedReader(session)
    service.start_card(session, p, reader, reader_id="sim-1", actor="cashier1")
    service.refresh_card(session, p, reader, actor="cashier1")
    session.commit()
    assert p.status == "succeeded"
    return p


def test_void_reverses_exactly_and_keeps_the_receipt_number(session, world):
    before = _state(session, world)
    p = _cash_payment(session, world)
    receipt = p.receipt_number
    service.void_payment(
        session, p, supervisor_id=world.supervisor.id, actor="sup", reason="wrong account"
    )
    session.commit()
    assert p.status == "voided"
    assert p.receipt_number == receipt
    assert p.voided_by_id == world.supervisor.id
    assert _state(session, world) == before
    msg = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == CIS_VOID_TOPIC)).one()
    assert msg.data["reason"] == "wrong account"
    assert p.void_reason == "wrong account"
    assert msg.office_id == p.office_id
    event = session.scalars(
        select(audit.AuditEvent).where(audit.AuditEvent.action == "payment.voided")
    ).one()
    assert event.actor == "sup" and "wrong account" in event.details
    # voiding again changes nothing
    service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="sup")
    session.commit()
    assert session.query(OutboxMessage).filter_by(topic=CIS_VOID_TOPIC).count() == 1


def test_void_needs_a_supervisor(session, world):
    p = _cash_payment(session, world)
    with pytest.raises(service.ValidationError) as err:
        service.void_payment(session, p, supervisor_id=None, actor="cashier1")
    assert err.value.code == "supervisor_required"
    assert p.status == "succeeded"


def test_void_refused_after_the_day_closed(session, world):
    p = _cash_payment(session, world)
    with pytest.raises(service.Conflict) as err:
        service.void_payment(
            session, p, supervisor_id=world.supervisor.id, actor="s", now=NEXT_WEEK
        )
    assert err.value.code == "day_closed"
    session.add(BusinessDay(office_id=p.office_id, business_date=p.business_date, status="closed"))
    session.flush()
    with pytest.raises(service.Conflict):
        service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="s")


def test_void_refused_for_unfinished_or_refunded_payments(session, world):
    card = service.create_payment(session, command(world, 5000, tender("card", 5000))).payment
    with pytest.raises(InvalidTransition):
        service.void_payment(session, card, supervisor_id=world.supervisor.id, actor="s")
    p = _cash_payment(session, world)
    service.refund_payment(
        session,
        p,
        amount_cents=100,
        supervisor_id=world.supervisor.id,
        refund_key="r1",
        actor="s",
        now=NEXT_WEEK,
    )
    with pytest.raises(InvalidTransition):
        service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="s")


def test_card_void_goes_back_to_the_card(session, world):
    p = _card_payment(session, world)
    with pytest.raises(service.GatewayFailure):
        service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="s")
    reader = SimulatedReader(session)
    service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="s", gateway=reader)
    session.commit()
    assert p.status == "voided"
    # the whole charge was returned: nothing is left to refund at the processor
    result = reader.refund(p.id, "later", p.processor_intent_id, 1)
    assert result.status == "failed"


def test_refund_partial_then_full_never_more_than_paid(session, world):
    p = _cash_payment(session, world, 7000)
    sup = world.supervisor.id

    def refund(cents, key, **kw):
        return service.refund_payment(
            session,
            p,
            amount_cents=cents,
            supervisor_id=sup,
            refund_key=key,
            actor="sup",
            now=NEXT_WEEK,
            **kw,
        )

    with pytest.raises(service.Conflict) as err:
        service.refund_payment(
            session, p, amount_cents=100, supervisor_id=sup, refund_key="x", actor="s"
        )
    assert err.value.code == "void_instead"
    r1 = refund(2000, "r1", reason="moved out")
    assert (p.status, p.refunded_cents, r1.kind, r1.status) == (
        "partially_refunded",
        2000,
        "cash",
        "succeeded",
    )
    assert _state(session, world)[0] == 3000 + 2000
    assert refund(2000, "r1") is r1  # replay
    with pytest.raises(service.Conflict):
        refund(2500, "r1")
    with pytest.raises(service.ValidationError) as err:
        refund(5001, "r2")
    assert err.value.code == "refund_exceeds_paid"
    for bad in (0, -1, 1.5, True):
        with pytest.raises(service.ValidationError):
            refund(bad, "r3")
    with pytest.raises(service.ValidationError):
        refund(100, "r4", kind="bitcoin")
    with pytest.raises(service.ValidationError):
        service.refund_payment(
            session,
            p,
            amount_cents=1,
            supervisor_id=None,
            refund_key="r5",
            actor="s",
            now=NEXT_WEEK,
        )
    refund(5000, "r6", kind="check")
    session.commit()
    assert (p.status, p.refunded_cents) == ("refunded", 7000)
    assert _state(session, world) == (10000, [6000, 4000])
    with pytest.raises(InvalidTransition):
        refund(1, "r7")
    offices = session.scalars(
        select(OutboxMessage.office_id).where(OutboxMessage.topic == CIS_REFUND_TOPIC)
    ).all()
    assert offices == [p.office_id, p.office_id]


def test_card_refund_goes_through_the_gateway_up_to_the_card_part(session, world):
    p = service.create_payment(
        session, command(world, 7000, tender("card", 5000), tender("cash", 2000))
    ).payment
    reader = SimulatedReader(session)
    service.start_card(session, p, reader, reader_id="sim-1", actor="c")
    service.refresh_card(session, p, reader, actor="c")
    session.commit()
    kw = {"supervisor_id": world.supervisor.id, "actor": "s", "now": NEXT_WEEK}
    with pytest.raises(service.ValidationError) as err:
        service.refund_payment(session, p, amount_cents=6000, refund_key="a", gateway=reader, **kw)
    assert err.value.code == "refund_exceeds_card"
    r = service.refund_payment(session, p, amount_cents=5000, refund_key="b", gateway=reader, **kw)
    assert r.kind == "card" and r.processor_refund_id.startswith("sim_re_")
    cash = service.refund_payment(session, p, amount_cents=2000, refund_key="c", kind="cash", **kw)
    session.commit()
    assert cash.kind == "cash" and p.status == "refunded"
    assert session.get(Payment, p.id).refunded_cents == 7000
