"""The CIS record builders: payment, void, refund (payments.posting), visit and service
request (kiosk.cis.records)."""

from __future__ import annotations

import datetime as dt
import json

from kiosk.cis.records import service_request_record, visit_record
from kiosk.models import QueueTicket, ServiceRequest
from payments.models import Refund
from payments.posting import (
    CIS_PAYMENT_TOPIC,
    CIS_TOPICS,
    iso_utc,
    payment_record,
    refund_record,
    void_record,
)
from tests.kiosk.cis.conftest import make_records


def test_payment_record_carries_tenders_allocations_and_utc_times(session):
    r = make_records(session)
    record = payment_record(r.payment, "SA")
    assert record["record_type"] == "payment"
    assert record["record_id"] == r.payment.id
    assert record["office_code"] == "SA"
    assert record["account_number"] == r.account.number
    assert record["amount_cents"] == 8450 and record["change_cents"] == 50
    assert record["receipt_number"] == r.payment.receipt_number
    assert record["business_date"] == "2026-11-23"
    assert record["completed_at"] == "2026-11-23T18:04:05Z"
    assert record["tenders"] == [
        {
            "kind": "card",
            "amount_cents": 5000,
            "card_brand": "visa",
            "card_last4": "4242",
            "auth_code": "A1B2C3",
            "processor_id": "ch_123",
        },
        {"kind": "cash", "amount_cents": 3450, "reference": None, "bank": None},
    ]
    assert record["allocations"] == [{"bill_number": r.bill.number, "amount_cents": 8450}]
    # JSON-ready as is, and amounts stay integers (no floats anywhere)
    assert json.loads(json.dumps(record)) == record
    assert all(isinstance(t["amount_cents"], int) for t in record["tenders"])
    assert CIS_TOPICS[CIS_PAYMENT_TOPIC] == "payment"


def test_payment_record_takes_bill_numbers_without_a_session(session):
    r = make_records(session)
    record = payment_record(r.payment, "SA", bill_numbers={r.bill.id: "999"})
    assert record["allocations"][0]["bill_number"] == "999"


def test_void_and_refund_records(session):
    r = make_records(session)
    r.payment.status = "voided"
    r.payment.voided_at = dt.datetime(2026, 11, 23, 19, 0, tzinfo=dt.UTC)
    void = void_record(r.payment, "SA", reason="wrong account")
    assert void["record_type"] == "payment_void"
    assert void["record_id"] == r.payment.id and void["reason"] == "wrong account"
    assert void["voided_at"] == "2026-11-23T19:00:00Z"

    refund = Refund(
        payment=r.payment,
        kind="cash",
        amount_cents=1000,
        reason="overpaid",
        business_date=dt.date(2026, 11, 24),
        idempotency_key="refund-1",
    )
    session.add(refund)
    session.flush()
    record = refund_record(refund, "SA")
    assert record["record_id"] == refund.id and record["payment_id"] == r.payment.id
    assert record["amount_cents"] == 1000 and record["business_date"] == "2026-11-24"
    assert record["account_number"] == r.account.number


def test_visit_record_looks_up_account_and_ticket(session):
    r = make_records(session)
    ticket = QueueTicket(
        office_id=r.office.id,
        business_date=dt.date(2026, 11, 23),
        number="B012",
        service="pay",
        issued_at=r.visit.started_at - dt.timedelta(seconds=400),
    )
    session.add(ticket)
    session.flush()
    r.visit.ticket_id = ticket.id
    r.visit.called_at = r.visit.started_at + dt.timedelta(seconds=90)
    record = visit_record(r.visit, "SA")
    assert record["record_type"] == "visit" and record["record_id"] == r.visit.id
    assert record["account_number"] == r.account.number
    assert record["ticket_number"] == "B012"
    assert record["reason_codes"] == ["payment", "pickup_day"]
    assert record["outcome_code"] == "resolved"
    assert record["language"] == "es"
    # the wait is the lobby wait: ticket issued -> called
    assert record["wait_seconds"] == 490 and record["duration_seconds"] == 200
    assert record["started_at"] == "2026-11-23T18:04:05Z"


def test_visit_without_account(session):
    r = make_records(session)
    r.visit.account_id = None
    assert visit_record(r.visit, "SA")["account_number"] is None


def test_visit_without_ticket_has_no_measured_wait(session):
    r = make_records(session)
    r.visit.ticket_id = None
    r.visit.called_at = r.visit.started_at
    assert visit_record(r.visit, "SA")["wait_seconds"] is None


def test_service_request_record(session):
    r = make_records(session)
    request = ServiceRequest(
        reference="SR-20261123-0001",
        office_id=r.office.id,
        account_id=r.account.id,
        kind="bulky_item",
        details=json.dumps({"items": ["sofa"]}),
        language="vi",
        channel="kiosk",
        scheduled_for=dt.date(2026, 11, 30),
    )
    session.add(request)
    session.flush()
    record = service_request_record(request, "SA")
    assert record["record_id"] == "SR-20261123-0001"
    assert record["details"] == {"items": ["sofa"]}
    assert record["account_number"] == r.account.number
    assert record["scheduled_for"] == "2026-11-30"


def test_iso_utc_converts_other_zones():
    at = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert iso_utc(at) == "2026-11-23T18:00:00Z"
    assert iso_utc(None) is None
