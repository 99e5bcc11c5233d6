"""Creating payments: tender math in the record, allocation, receipt numbers, idempotent
replay, the duplicate guard, rules and limits, and refusals that write nothing."""

import dataclasses
import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from kiosk.models import Account, Bill
from payments import audit, service
from payments.models import Payment, PaymentAllocation, ReceiptSequence, TenderLine
from payments.outbox import OutboxMessage
from payments.posting import CIS_PAYMENT_TOPIC
from payments.rules import PaymentRules
from tests import factories
from tests.payments.conftest import command, make_world, tender


def _counts(session) -> dict:
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (
            Payment,
            TenderLine,
            PaymentAllocation,
            ReceiptSequence,
            OutboxMessage,
            audit.AuditEvent,
        )
    }


def _balance_and_bills(session, world):
    session.expire_all()
    account = session.get(Account, world.account.id)
    return account.balance_cents, [session.get(Bill, b.id).open_cents for b in world.bills]


def test_cash_payment_succeeds_with_receipt_audit_outbox_and_allocation(session, world):
    outcome = service.create_payment(session, command(world, 7000, tender("cash", 10000)))
    session.commit()
    p = outcome.payment
    assert not outcome.replayed
    assert p.status == "succeeded"
    assert p.change_cents == 3000
    assert p.receipt_seq == 1
    assert p.receipt_number == f"SA-{p.business_date:%Y%m%d}-0001"
    assert [(a.bill_id, a.amount_cents) for a in p.allocations] == [
        (world.bills[0].id, 6000),
        (world.bills[1].id, 1000),
    ]
    assert _balance_and_bills(session, world) == (3000, [0, 3000])
    msg = session.scalars(select(OutboxMessage)).one()
    assert (msg.topic, msg.key) == (CIS_PAYMENT_TOPIC, p.id)
    assert msg.data["receipt_number"] == p.receipt_number
    actions = session.scalars(
        select(audit.AuditEvent.action).where(audit.AuditEvent.entity_id == p.id)
    ).all()
    assert actions == ["payment.succeeded"]  # created and completed at once: one entry
    assert audit.verify(session).intact


def test_named_bill_is_paid_first(session, world):
    cmd = command(world, 4000, bill_ids=(world.bills[1].id,))
    p = service.create_payment(session, cmd).payment
    session.commit()
    assert [(a.bill_id, a.amount_cents) for a in p.allocations] == [(world.bills[1].id, 4000)]
    assert _balance_and_bills(session, world) == (6000, [6000, 0])


def test_overpayment_becomes_credit(session, world):
    p = service.create_payment(session, command(world, 12000)).payment
    session.commit()
    assert sum(a.amount_cents for a in p.allocations) == 10000
    assert _balance_and_bills(session, world) == (-2000, [0, 0])


def test_check_and_money_order_keep_their_numbers(session, world):
    cmd = command(
        world,
        10000,
        tender("check", 6000, " 4411 ", "Wells Fargo"),
        tender("money_order", 4000, "MO-77"),
    )
    p = service.create_payment(session, cmd).payment
    session.commit()
    assert [(t.kind, t.reference, t.bank) for t in p.tenders] == [
        ("check", "4411", "Wells Fargo"),
        ("money_order", "MO-77", None),
    ]


def test_card_payment_waits_for_the_reader(session, world):
    p = service.create_payment(session, command(world, 5000, tender("card", 5000))).payment
    session.commit()
    assert p.status == "created"
    assert p.receipt_number is None
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert _balance_and_bills(session, world) == (10000, [6000, 4000])


def _refused(session, cmd, code, rules=None):
    before = _counts(session)
    with pytest.raises(service.PaymentError) as err:
        service.create_payment(session, cmd, rules)
    session.rollback()
    assert err.value.code == code, err.value.message
    assert err.value.message
    assert _counts(session) == before
    return err.value


def test_bad_inputs_are_refused_and_write_nothing(session, world):
    service.create_payment(session, command(world, 100))  # something to compare against
    session.commit()
    cases = [
        (command(world, 0), "amount_not_positive"),
        (command(world, -100, tender("cash", 100)), "amount_not_positive"),
        (command(world, 3000, channel="kiosk"), "kiosk_card_only"),
        (command(world, 300_000, tender("card", 300_000), channel="kiosk"), "amount_above_maximum"),
        (command(world, 2_000_000), "amount_above_maximum"),
        (command(world, 1000, tender("cash", 999)), "tenders_short"),
        (command(world, 1000, tender("check", 1500)), "non_cash_exceeds_due"),
        (command(world, 1000, tender("check", 1000, reference="")), "reference_required"),
        (command(world, 1000, tender("card", 500), tender("card", 500)), "one_card_only"),
        (command(world, 1000, channel="mail"), "bad_channel"),
        (command(world, 1000, language="fr"), "bad_language"),
        (command(world, 1000, email="not-an-email"), "bad_email"),
        (command(world, 1000, key=" "), "bad_idempotency_key"),
        (command(world, 1000, key="k" * 129), "bad_idempotency_key"),
        (command(world, 1000, account_number="999"), "account_not_found"),
        (command(world, 1000, account_id=987654), "account_not_found"),
        (command(world, 1000, bill_ids=(987654,)), "bill_not_found"),
    ]
    for cmd, code in cases:
        _refused(session, cmd, code)


def test_float_amount_is_refused(session, world):
    _refused(session, dataclasses.replace(command(world, 1000), amount_cents=10.0), "bad_amount")


def test_rules_refuse_overpayment_and_partial_when_configured(session, world):
    strict = PaymentRules(allow_overpayment=False, allow_partial=False)
    err = _refused(session, command(world, 10001), "overpayment_not_allowed", strict)
    assert err.extra["owed_cents"] == 10000
    _refused(session, command(world, 9999), "partial_not_allowed", strict)
    assert service.create_payment(session, command(world, 10000), strict).payment.receipt_seq


def test_card_fee_is_added_to_what_the_card_pays(session, world):
    rules = PaymentRules(card_fee_cents=195)
    _refused(session, command(world, 5000, tender("card", 5000)), "tenders_short", rules)
    p = service.create_payment(session, command(world, 5000, tender("card", 5195)), rules).payment
    assert (p.amount_cents, p.fee_cents) == (5000, 195)
    cash = service.create_payment(session, command(world, 100, confirm_duplicate=True), rules)
    assert cash.payment.fee_cents == 0


def test_paid_bill_named_again_gets_a_clear_answer(session, world):
    bill = world.bills[0].id
    service.create_payment(session, command(world, 6000, bill_ids=(bill,)))
    session.commit()
    err = _refused(session, command(world, 6000, bill_ids=(bill,)), "bill_already_paid")
    assert err.status == 409


def test_replay_returns_the_same_payment(session, world):
    cmd = command(world, 2500, key="same-key")
    first = service.create_payment(session, cmd).payment
    session.commit()
    before = _counts(session)
    again = service.create_payment(session, cmd)
    session.commit()
    assert again.replayed and again.payment.id == first.id
    assert _counts(session) == before


def test_same_key_different_request_is_a_conflict(session, world):
    service.create_payment(session, command(world, 2500, key="k1"))
    session.commit()
    err = _refused(session, command(world, 2600, key="k1"), "idempotency_conflict")
    assert err.status == 409
    _refused(session, command(world, 2500, tender("cash", 3000), key="k1"), "idempotency_conflict")


def test_duplicate_guard_warns_within_window_and_can_be_confirmed(session, world):
    first = service.create_payment(session, command(world, 2500)).payment
    session.commit()
    err = _refused(session, command(world, 2500), "duplicate_suspected")
    assert err.extra == {"payment_id": first.id, "receipt_number": first.receipt_number}
    confirmed = service.create_payment(session, command(world, 2500, confirm_duplicate=True))
    assert confirmed.payment.status == "succeeded"
    # another amount, or the same amount after the window, is no duplicate
    assert service.create_payment(session, command(world, 2400)).payment
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    assert service.create_payment(session, command(world, 2500), now=later).payment


def test_find_recent_duplicate_ignores_failed_and_other_accounts(session, world, office):
    p = service.create_payment(session, command(world, 5000, tender("card", 5000))).payment
    window = dt.timedelta(minutes=10)
    assert service.find_recent_duplicate(session, world.account.id, 5000, window) is p
    assert service.find_recent_duplicate(session, world.account.id + 1, 5000, window) is None
    p.status = "failed"
    session.flush()
    assert service.find_recent_duplicate(session, world.account.id, 5000, window) is None


def test_receipt_numbers_are_gap_free_per_office_and_day(session, world):
    other_office = factories.make_office(session, code="SB")
    session.commit()
    other = make_world(session, other_office)
    day1 = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)  # 10:00 in Santa Ana
    day2 = dt.datetime(2026, 11, 21, 7, 59, tzinfo=dt.UTC)  # 23:59 on the 20th, local
    day3 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)  # midnight: the 21st
    numbers = []
    for w, at in [(world, day1), (world, day2), (other, day1), (world, day3), (other, day3)]:
        p = service.create_payment(session, command(w, 100, confirm_duplicate=True), now=at)
        numbers.append(p.payment.receipt_number)
    # a rolled-back payment leaves no gap
    session.commit()
    service.create_payment(session, command(world, 100, confirm_duplicate=True), now=day3)
    session.rollback()
    numbers.append(
        service.create_payment(
            session, command(world, 100, confirm_duplicate=True), now=day3
        ).payment.receipt_number
    )
    session.commit()
    assert numbers == [
        "SA-20261120-0001",
        "SA-20261120-0002",
        "SB-20261120-0001",
        "SA-20261121-0001",
        "SB-20261121-0001",
        "SA-20261121-0002",
    ]


def test_receipt_numbers_stay_gap_free_under_concurrent_payments(sessions, session, world):
    n = 12
    errors, barrier = [], threading.Barrier(n)

    def pay(i):
        s = sessions()
        try:
            barrier.wait()
            service.create_payment(s, command(world, 100 + i))
            s.commit()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = sorted(session.scalars(select(Payment.receipt_seq)).all())
    assert seqs == list(range(1, n + 1))
    row = session.scalars(select(ReceiptSequence)).one()
    assert row.last_number == n
    assert audit.verify(session).intact
    assert json.loads(session.scalars(select(OutboxMessage.payload)).first())["record_type"]
