"""The counter queue (kiosk.queue): waiting list order, calling (also two counters at once),
recall, no-show, transfer, walk-ins, and the counter visit each call starts and its CIS record.
Runs on SQLite and PostgreSQL (PAYOFFICE_TEST_DB=postgresql)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import select

from kiosk import queue
from kiosk.cis.records import CIS_VISIT_TOPIC
from kiosk.models import QueueTicket, Visit
from payments.audit import AuditEvent
from payments.db import utcnow
from payments.outbox import OutboxMessage
from tests import factories


def _counter(session, office, name="Counter 1", role="cashier") -> queue.Counter:
    station, _code = factories.make_station(session, office, "counter", name=name)
    user = factories.make_staff(session, role)
    user.office_id = office.id
    session.flush()
    return queue.Counter(office.id, station.id, user.id, user.username)


def _ticket(session, office, service="billing", language="en", minutes_ago=0) -> QueueTicket:
    ticket = queue.issue_ticket(session, office_id=office.id, service=service, language=language)
    ticket.ticket.issued_at = utcnow() - dt.timedelta(minutes=minutes_ago)
    session.flush()
    return ticket.ticket


def _actions(session) -> list[str]:
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))
    return [a for a in actions if a.startswith(("queue.", "visit."))]


def _visit_messages(session) -> list[dict]:
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == CIS_VISIT_TOPIC))
    return [json.loads(m.payload) for m in rows]


def test_every_service_has_a_priority():
    assert set(queue.SERVICE_PRIORITY) == set(queue.SERVICES)


def test_waiting_list_is_in_priority_then_arrival_order(session, office):
    other = _ticket(session, office, "other", "vi", minutes_ago=30)
    start = _ticket(session, office, "start_stop", "es", minutes_ago=20)
    late_bill = _ticket(session, office, "billing", minutes_ago=2)
    early_bill = _ticket(session, office, "billing", minutes_ago=10)
    listed = queue.waiting_list(session, office.id)
    assert [t.id for t in listed] == [early_bill.id, late_bill.id, start.id, other.id]
    assert [t.minutes_waited for t in listed] == [10, 2, 20, 30]
    assert listed[2].language == "es" and listed[3].service == "other"
    assert queue.next_numbers(session, office.id, limit=2) == [early_bill.number, late_bill.number]


def test_call_next_starts_a_counter_visit(session, office):
    who = _counter(session, office)
    _ticket(session, office, "other", minutes_ago=40)
    bill = _ticket(session, office, "billing", "es", minutes_ago=5)
    result = queue.call_next(session, who)
    session.commit()
    ticket, visit = result.ticket, result.visit
    assert ticket.id == bill.id and ticket.status == "called"
    assert ticket.station_id == who.station_id and ticket.called_at is not None
    assert visit.channel == "counter" and visit.ticket_id == ticket.id
    assert (visit.station_id, visit.staff_user_id) == (who.station_id, who.staff_user_id)
    assert visit.language == "es" and visit.reason_codes == "billing.question"
    assert visit.called_at == visit.started_at == ticket.called_at
    assert visit.ended_at is None
    assert queue.current_visit(session, who.station_id).id == visit.id
    assert [s.number for s in queue.now_serving(session, office.id)] == [ticket.number]
    assert queue.now_serving(session, office.id)[0].counter == "Counter 1"
    assert _actions(session) == ["queue.call"]


def test_one_visit_at_a_time_and_an_empty_queue(session, office):
    who = _counter(session, office)
    with pytest.raises(queue.QueueError) as empty:
        queue.call_next(session, who)
    assert empty.value.code == "queue_empty"
    _ticket(session, office)
    _ticket(session, office)
    queue.call_next(session, who)
    with pytest.raises(queue.QueueError) as busy:
        queue.call_next(session, who)
    assert busy.value.code == "visit_open"
    assert len(queue.waiting_list(session, office.id)) == 1


def test_calling_needs_a_counter_station_of_the_office(session, office):
    kiosk, _ = factories.make_station(session, office, "kiosk", name="Lobby kiosk")
    _ticket(session, office)
    for station_id in (None, kiosk.id):
        with pytest.raises(queue.QueueError) as refused:
            queue.call_next(session, queue.Counter(office.id, station_id, None, "x"))
        assert refused.value.code == "no_station"
    assert queue.waiting_list(session, office.id)[0].number == "B001"


def test_two_counters_calling_at_once_get_different_tickets(sessions, office):
    with sessions() as s:
        office_row = s.merge(office)
        counters = [_counter(s, office_row, f"Counter {n}") for n in (1, 2, 3)]
        for _ in range(3):
            _ticket(s, office_row)
        s.commit()
    barrier = threading.Barrier(len(counters))
    called: list[str] = []
    errors: list[BaseException] = []

    def work(who):
        with sessions() as s:
            try:
                barrier.wait(timeout=10)
                result = queue.call_next(s, who)
                s.commit()
                called.append(result.ticket.number)
            except BaseException as exc:  # reported below, never swallowed
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(who,)) for who in counters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(called) == ["B001", "B002", "B003"]
    with sessions() as s:
        visits = s.scalars(select(Visit)).all()
        assert len({v.ticket_id for v in visits}) == 3
        assert {v.station_id for v in visits} == {c.station_id for c in counters}


def test_a_repeated_request_is_answered_once(session, office):
    who = _counter(session, office)
    _ticket(session, office)
    _ticket(session, office)
    first = queue.call_next(session, who, key="press-1")
    again = queue.call_next(session, who, key="press-1")
    assert again.replayed and again.ticket.id == first.ticket.id
    assert again.visit.id == first.visit.id
    assert len(queue.waiting_list(session, office.id)) == 1
    with pytest.raises(queue.QueueError) as conflict:
        queue.recall(session, who, first.ticket.id, key="press-1")
    assert conflict.value.code == "idempotency_conflict" and conflict.value.status == 409


def test_call_a_particular_ticket_and_find_it_by_number(session, office):
    who = _counter(session, office)
    _ticket(session, office, "billing")
    other = _ticket(session, office, "other")
    assert queue.find_ticket(session, office.id, "g1").id == other.id
    assert queue.find_ticket(session, office.id, "Z9") is None
    result = queue.call_ticket(session, who, other.id)
    assert result.ticket.number == "G001" and result.visit.reason_codes == "information.other"
    with pytest.raises(queue.QueueError) as again:
        queue.call_ticket(session, _counter(session, office, "Counter 2"), other.id)
    assert again.value.code == "not_waiting"
    with pytest.raises(queue.QueueError) as missing:
        queue.call_ticket(session, who, 999999)
    assert missing.value.status == 404


def test_recall_announces_again(session, office):
    who = _counter(session, office)
    waiting = _ticket(session, office)
    with pytest.raises(queue.QueueError) as not_called:
        queue.recall(session, who, waiting.id)
    assert not_called.value.code == "not_called"
    called = queue.call_next(session, who).ticket
    first = called.announced_at
    called.announced_at = first - dt.timedelta(minutes=1)  # as if called a minute ago
    queue.recall(session, who, called.id)
    assert called.announced_at > first - dt.timedelta(minutes=1)
    assert called.status == "called"
    assert _actions(session) == ["queue.call", "queue.recall"]


def test_no_show_closes_the_ticket_and_reports_the_visit(session, office):
    who = _counter(session, office)
    _ticket(session, office)
    result = queue.call_next(session, who)
    queue.no_show(session, who, result.ticket.id)
    session.commit()
    assert result.ticket.status == "no_show" and result.ticket.ended_at is not None
    assert result.visit.outcome_code == "no_show" and result.visit.ended_at is not None
    assert queue.current_visit(session, who.station_id) is None
    [record] = _visit_messages(session)
    assert record["ticket_number"] == "B001" and record["outcome_code"] == "no_show"
    assert _actions(session) == ["queue.call", "queue.no_show"]


def test_transfer_to_another_service_keeps_the_place_in_line(session, office):
    who = _counter(session, office)
    bill = _ticket(session, office, "billing", minutes_ago=15)
    later = _ticket(session, office, "start_stop", minutes_ago=5)
    assert queue.call_next(session, who).ticket.id == bill.id
    result = queue.transfer(session, who, bill.id, service="start_stop")
    assert result.ticket.status == "waiting" and result.ticket.service == "start_stop"
    assert result.visit.outcome_code == "transferred" and result.visit.ended_at is not None
    assert [t.id for t in queue.waiting_list(session, office.id)] == [bill.id, later.id]
    assert queue.current_visit(session, who.station_id) is None
    assert _actions(session)[-1] == "queue.transfer"
    again = queue.call_next(session, who)
    assert again.ticket.id == bill.id and again.visit.reason_codes == "service.start_stop"


def test_transfer_to_a_counter_waits_for_that_counter(session, office):
    first = _counter(session, office, "Counter 1")
    second = _counter(session, office, "Counter 2")
    bill = _ticket(session, office, "billing", minutes_ago=9)
    other = _ticket(session, office, "other", minutes_ago=1)
    queue.call_next(session, first)
    queue.transfer(session, first, bill.id, station_id=second.station_id)
    listed = queue.waiting_list(session, office.id)
    assert (listed[0].number, listed[0].for_station) == ("B001", "Counter 2")
    # Counter 1 skips the ticket sent to Counter 2 ...
    assert queue.call_next(session, first).ticket.id == other.id
    # ... and Counter 2 takes it.
    assert queue.call_next(session, second).ticket.id == bill.id
    assert bill.for_station_id is None and bill.station_id == second.station_id


BAD_TRANSFERS = [
    ({}, "nothing_to_transfer"),
    ({"service": "parking"}, "bad_service"),
    ({"station_id": "2"}, "bad_station"),
    ({"station_id": 99999}, "bad_station"),
]


def test_bad_transfers_change_nothing(session, office):
    who = _counter(session, office)
    ticket = _ticket(session, office)
    queue.call_next(session, who)
    for kwargs, code in BAD_TRANSFERS:
        with pytest.raises(queue.QueueError) as refused:
            queue.transfer(session, who, ticket.id, **kwargs)
        assert refused.value.code == code, kwargs
        assert ticket.status == "called" and queue.current_visit(session, who.station_id)


def test_transfer_to_a_kiosk_or_another_office_is_refused(session, office):
    who = _counter(session, office)
    kiosk, _ = factories.make_station(session, office, "kiosk", name="Kiosk")
    elsewhere = factories.make_office(session, code="SB")
    far, _ = factories.make_station(session, elsewhere, "counter", name="Far counter")
    ticket = _ticket(session, office)
    for station in (kiosk, far):
        with pytest.raises(queue.QueueError) as refused:
            queue.transfer(session, who, ticket.id, station_id=station.id)
        assert refused.value.code == "bad_station"


def test_walk_in_and_finish_send_the_visit_to_the_cis(session, office):
    who = _counter(session, office)
    result = queue.walk_in(session, who, language="vi", reasons=["service.bulky_item"])
    visit = result.visit
    assert result.ticket is None and visit.called_at is None and visit.language == "vi"
    done = queue.finish(
        session,
        who,
        visit.id,
        reasons=["service.bulky_item", "information.pickup_day"],
        outcome="request_created",
        notes="  Sofa and two chairs, Friday.  ",
    )
    session.commit()
    assert done.visit.ended_at >= done.visit.started_at
    assert done.visit.notes == "Sofa and two chairs, Friday."
    [record] = _visit_messages(session)
    assert record["channel"] == "counter" and record["ticket_number"] is None
    assert record["reason_codes"] == ["service.bulky_item", "information.pickup_day"]
    assert record["outcome_code"] == "request_created"
    assert (record["station_id"], record["staff_user_id"]) == (who.station_id, who.staff_user_id)
    assert _actions(session) == ["visit.walk_in", "visit.finish"]


def test_finishing_a_ticket_visit_records_its_times(session, office):
    who = _counter(session, office)
    _ticket(session, office, "billing", "es", minutes_ago=12)
    called = queue.call_next(session, who)
    done = queue.finish(
        session, who, called.visit.id, reasons=["billing.pay_bill"], outcome="paid", notes=""
    )
    session.commit()
    ticket, visit = done.ticket, done.visit
    assert ticket.status == "done" and ticket.ended_at == visit.ended_at
    assert visit.called_at <= visit.started_at <= visit.ended_at
    assert ticket.issued_at < visit.called_at
    assert visit.reason_codes == "billing.pay_bill" and visit.notes is None
    [record] = _visit_messages(session)
    assert record["ticket_number"] == "B001" and record["language"] == "es"
    assert record["called_at"] and record["ended_at"]
    # the wait is the lobby wait: the ticket was issued 12 minutes before the call
    assert record["wait_seconds"] >= 12 * 60
    with pytest.raises(queue.QueueError) as twice:
        queue.finish(session, who, visit.id, reasons=["billing.pay_bill"], outcome="paid")
    assert twice.value.code == "visit_ended"
    assert len(_visit_messages(session)) == 1


BAD_FINISHES = [
    ([], "paid", None, "reason_required"),
    (["no.such.reason"], "paid", None, "unknown_reason"),
    (["paid"], "paid", None, "unknown_reason"),  # an outcome is not a reason
    ("billing.pay_bill", None, None, "outcome_required"),
    (["billing.pay_bill"], "billing.pay_bill", None, "unknown_outcome"),
    (["billing.pay_bill"], "paid", "x" * 2001, "notes_too_long"),
    (["billing.pay_bill"], "paid", 12, "bad_notes"),
    ([1, 2], "paid", None, "bad_reasons"),
]


def test_bad_finish_changes_nothing(session, office):
    who = _counter(session, office)
    visit = queue.walk_in(session, who).visit
    for reasons, outcome, notes, code in BAD_FINISHES:
        with pytest.raises(queue.QueueError) as refused:
            queue.finish(session, who, visit.id, reasons=reasons, outcome=outcome, notes=notes)
        assert refused.value.code == code, (reasons, outcome)
        assert visit.ended_at is None and visit.outcome_code is None
        assert visit.reason_codes == "" and visit.notes is None
    assert _visit_messages(session) == []


def test_another_office_cannot_touch_the_ticket(session, office):
    who = _counter(session, office)
    elsewhere = factories.make_office(session, code="SB")
    stranger = _counter(session, elsewhere, "Counter 9")
    ticket = _ticket(session, office)
    queue.call_next(session, who)
    for act in (queue.recall, queue.no_show):
        with pytest.raises(queue.QueueError) as refused:
            act(session, stranger, ticket.id)
        assert refused.value.status == 404
    visit = queue.current_visit(session, who.station_id)
    with pytest.raises(queue.QueueError):
        queue.finish(session, stranger, visit.id, reasons=["billing.pay_bill"], outcome="paid")


def test_only_the_calling_counter_recalls_or_marks_a_no_show(session, office):
    here = _counter(session, office, "Counter 1")
    there = _counter(session, office, "Counter 2")
    ticket = _ticket(session, office)
    queue.call_next(session, here)
    for act in (queue.recall, queue.no_show):
        with pytest.raises(queue.QueueError) as refused:
            act(session, there, ticket.id)
        assert refused.value.code == "other_counter"
    with pytest.raises(queue.QueueError) as refused:
        queue.transfer(session, there, ticket.id, service="other")
    assert refused.value.code == "other_counter"
    assert ticket.status == "called" and ticket.service == "billing"
    desk = queue.Counter(office.id, None, None, "supervisor-desk")  # an unpaired browser
    queue.recall(session, desk, ticket.id)
