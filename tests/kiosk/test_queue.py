"""Queue tickets: numbers per office, day and service, language kept, estimated wait."""

from __future__ import annotations

import pytest

from kiosk import queue
from tests import factories


def test_numbers_per_service_and_wait_from_people_ahead(session, office):
    first = queue.issue_ticket(session, office_id=office.id, service="billing", language="es")
    second = queue.issue_ticket(session, office_id=office.id, service="billing")
    other = queue.issue_ticket(
        session, office_id=office.id, service="start_stop", language="vi", minutes_per_customer=5
    )
    session.commit()
    assert [first.number, second.number, other.number] == ["B001", "B002", "S001"]
    assert first.ticket.language == "es" and other.ticket.language == "vi"
    assert (first.waiting_ahead, first.estimated_wait_minutes) == (0, 0)
    assert (second.waiting_ahead, second.estimated_wait_minutes) == (1, 6)
    assert (other.waiting_ahead, other.estimated_wait_minutes) == (2, 10)


def test_served_tickets_do_not_count_as_waiting(session, office):
    first = queue.issue_ticket(session, office_id=office.id, service="other")
    first.ticket.status = "served"
    nxt = queue.issue_ticket(session, office_id=office.id, service="other")
    assert nxt.number == "G002" and nxt.waiting_ahead == 0


def test_offices_count_separately(session, office):
    other_office = factories.make_office(session, code="SB")
    queue.issue_ticket(session, office_id=office.id, service="billing")
    assert queue.issue_ticket(session, office_id=other_office.id, service="billing").number == (
        "B001"
    )


@pytest.mark.parametrize(
    ("service", "language", "code"),
    [
        ("parking", "en", "bad_service"),
        ("billing", "fr", "bad_language"),
        (None, "en", "bad_service"),
    ],
)
def test_bad_input_is_refused(session, office, service, language, code):
    with pytest.raises(queue.QueueError) as info:
        queue.issue_ticket(session, office_id=office.id, service=service, language=language)
    assert info.value.code == code
    assert session.query(queue.QueueTicket).count() == 0


def test_a_taken_number_is_skipped(session, office, sessions):
    """Another kiosk committed B001 between our read and our insert: we take B002."""
    from kiosk.models import QueueTicket
    from payments.db import business_date

    with sessions() as other:
        other.add(
            QueueTicket(
                office_id=office.id,
                business_date=business_date(),
                number="B001",
                service="billing",
            )
        )
        other.commit()
    issued = queue.issue_ticket(session, office_id=office.id, service="billing")
    assert issued.number == "B002"
