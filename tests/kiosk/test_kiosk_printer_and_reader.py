"""The kiosk's gaps closed: the printer check before the card prompt (emailed receipt or no
paper instead), the service-request slip printed at the kiosk, and the card reader offline
reported by the payments API. Printers are real sockets on 127.0.0.1
(tests/hardware/loopback.py) answering ESC/POS status requests."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from kiosk import receipting
from kiosk.models import Account, ServiceRequest, Station
from payments.models import Payment
from payments.outbox import OutboxMessage, deliver_due
from payments.simulated import READER_OFFLINE, set_test_card
from receipts.printing import EMAIL_TOPIC, PRINT_TOPIC
from tests import factories
from tests.conftest import csrf_token
from tests.hardware.loopback import COVER_OPEN, ONLINE, PAPER_LOW, PAPER_OUT, LoopbackPrinter


@pytest.fixture
def bill(sessions, office):
    with sessions() as s:
        account = factories.make_account(s, balance_cents=8450)
        b = factories.make_bill(s, account)
        s.commit()
        return b.scanline


@pytest.fixture
def printers():
    made: list[LoopbackPrinter] = []

    def make(replies):
        p = LoopbackPrinter(replies)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/kiosk/"), **data})


def set_printer(sessions, station_id: int, url: str | None) -> None:
    with sessions() as s:
        s.get(Station, station_id).printer_url = url
        s.commit()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}?timeout=0.3"


@pytest.mark.parametrize("replies", [PAPER_OUT, COVER_OPEN, "closed"])
def test_printer_that_cannot_print_is_said_before_the_card_prompt(
    kiosk_client, bill, sessions, printers, replies
):
    url = _closed_port_url() if replies == "closed" else printers(replies).url
    set_printer(sessions, kiosk_client.station_id, url)
    post(kiosk_client, "/kiosk/language", lang="es", next="/kiosk/menu")
    post(kiosk_client, "/kiosk/scan", code=bill)
    r = post(kiosk_client, "/kiosk/pay/due")
    assert r.headers["Location"].endswith("/kiosk/pay/printer")
    html = kiosk_client.get("/kiosk/pay/printer").get_data(as_text=True)
    assert "La impresora de recibos no puede imprimir" in html
    assert "$84.50" in html and "Seguir sin recibo de papel" in html


@pytest.mark.parametrize("replies", [ONLINE, PAPER_LOW, None, "preview"])
def test_printer_able_or_unknown_goes_straight_to_the_card(
    kiosk_client, bill, sessions, printers, replies
):
    url = None if replies == "preview" else printers(replies).url  # None: silent = unknown
    set_printer(sessions, kiosk_client.station_id, url)
    post(kiosk_client, "/kiosk/scan", code=bill)
    assert post(kiosk_client, "/kiosk/pay/due").headers["Location"].endswith("/kiosk/pay")


def test_emailed_receipt_chosen_before_paying(kiosk_client, bill, sessions, printers):
    set_printer(sessions, kiosk_client.station_id, printers(PAPER_OUT).url)
    post(kiosk_client, "/kiosk/scan", code=bill)
    post(kiosk_client, "/kiosk/pay/due")
    bad = post(kiosk_client, "/kiosk/pay/email", email="ana@")
    assert bad.status_code == 400 and "does not look complete" in bad.get_data(as_text=True)
    r = post(kiosk_client, "/kiosk/pay/email", email="ana@example.com")
    assert r.headers["Location"].endswith("/kiosk/pay")
    page = kiosk_client.get("/kiosk/pay").get_data(as_text=True)
    assert 'data-email="ana@example.com"' in page
    # what the page's script then sends to the payments API
    token = csrf_token(kiosk_client, "/kiosk/")
    number = page.split('data-account="')[1].split('"')[0]
    created = kiosk_client.post(
        "/api/v1/payments",
        json={
            "account_number": number,
            "amount_cents": 8450,
            "email": "ana@example.com",
            "tenders": [{"kind": "card", "amount_cents": 8450}],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRFToken": token},
    ).get_json()
    assert kiosk_client.get(f"/api/v1/payments/{created['id']}").get_json()["status"] == (
        "succeeded"
    )
    html = kiosk_client.get(f"/kiosk/paid/{created['id']}").get_data(as_text=True)
    assert "We will email your receipt to a***@example.com." in html
    assert "Email me a receipt" not in html
    with sessions() as s:
        payment = s.get(Payment, created["id"])
        jobs = s.scalars(
            select(OutboxMessage).where(OutboxMessage.key.like(f"{payment.receipt_number}:%"))
        )
        # No paper for a broken printer; the message names the payment's office.
        assert [(m.topic, m.office_id) for m in jobs] == [(EMAIL_TOPIC, payment.office_id)]


def test_without_paper_the_payment_stands_and_the_job_waits(
    kiosk_client, bill, sessions, printers, app
):
    printer = printers(PAPER_OUT)
    set_printer(sessions, kiosk_client.station_id, printer.url)
    post(kiosk_client, "/kiosk/scan", code=bill)
    post(kiosk_client, "/kiosk/pay/due")
    assert post(kiosk_client, "/kiosk/pay/no-paper").headers["Location"].endswith("/kiosk/pay")
    page = kiosk_client.get("/kiosk/pay").get_data(as_text=True)
    assert 'data-email=""' in page
    token = csrf_token(kiosk_client, "/kiosk/")
    number = page.split('data-account="')[1].split('"')[0]
    created = kiosk_client.post(
        "/api/v1/payments",
        json={
            "account_number": number,
            "amount_cents": 8450,
            "tenders": [{"kind": "card", "amount_cents": 8450}],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRFToken": token},
    ).get_json()
    kiosk_client.get(f"/api/v1/payments/{created['id']}")
    html = kiosk_client.get(f"/kiosk/paid/{created['id']}").get_data(as_text=True)
    assert "Please write down your receipt number" in html
    handler = receipting.make_print_handler(app.config)
    deliver_due(app.extensions["payoffice.db"].sessions, {PRINT_TOPIC: handler}, limit=10)
    with sessions() as s:
        payment = s.get(Payment, created["id"])
        assert payment.status == "succeeded"
        job = s.scalars(
            select(OutboxMessage).where(OutboxMessage.key == f"{payment.receipt_number}:copy1")
        ).one()
        assert job.status == "pending" and "paper_out" in job.last_error
    assert b"SA-" not in printer.received  # nothing sent to a printer without paper


def test_service_request_slip_prints_at_the_kiosk(kiosk_client, bill, sessions, printers, app):
    printer = printers(ONLINE)
    set_printer(sessions, kiosk_client.station_id, printer.url)
    post(kiosk_client, "/kiosk/language", lang="es", next="/kiosk/menu")
    post(kiosk_client, "/kiosk/scan", code=bill)
    r = post(kiosk_client, "/kiosk/service/missed_pickup", cart="recycling")
    assert "/kiosk/service/done/" in r.headers["Location"]
    with sessions() as s:
        reference = s.scalars(select(ServiceRequest.reference)).one()
        job = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == PRINT_TOPIC)).one()
        assert job.key.endswith(f":{reference}") and job.data["expires_at"]
        assert job.data["document"]["language"] == "es"
    handler = receipting.make_print_handler(app.config)
    deliver_due(app.extensions["payoffice.db"].sessions, {PRINT_TOPIC: handler}, limit=10)
    printer.wait_closed(2)
    assert f"{reference[:4]} {reference[4:]}".encode() in printer.received
    assert "SOLICITUD DE SERVICIO".encode("cp858") in printer.received
    assert "Recolección no realizada".encode("cp858") in printer.received
    with sessions() as s:
        assert s.get(OutboxMessage, job.id).status == "delivered"


def test_reader_offline_is_reported_after_the_processor_cancel(kiosk_client, bill, sessions):
    with sessions() as s:
        set_test_card(s, f"simulated-{kiosk_client.station_id}", READER_OFFLINE)
        number = s.scalars(select(Account.number)).one()
        s.commit()
    token = csrf_token(kiosk_client, "/kiosk/")
    r = kiosk_client.post(
        "/api/v1/payments",
        json={
            "account_number": number,
            "amount_cents": 8450,
            "tenders": [{"kind": "card", "amount_cents": 8450}],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRFToken": token},
    )
    body = r.get_json()
    assert r.status_code == 201, body
    assert body["status"] == "canceled" and body["reader_status"] == "offline"
    assert body["failure"]["code"] == "reader_offline"
    again = kiosk_client.get(f"/api/v1/payments/{body['id']}").get_json()
    assert again["status"] == "canceled" and again["receipt_number"] is None


def test_service_request_through_the_api_prints_at_the_kiosk(kiosk_client, bill, sessions):
    with sessions() as s:
        number = s.scalars(select(Account.number)).one()
    r = kiosk_client.post(
        "/api/v1/service-requests",
        json={
            "account_number": number,
            "kind": "bulky_item",
            "details": {"items": "2"},
            "language": "vi",
        },
        headers={"X-CSRFToken": csrf_token(kiosk_client, "/kiosk/")},
    )
    assert r.status_code == 201, r.get_json()
    reference = r.get_json()["reference"]
    with sessions() as s:
        job = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == PRINT_TOPIC)).one()
        assert job.key.endswith(f":{reference}")
        assert job.data["printer_url"] == "preview://"
        assert job.data["document"]["language"] == "vi"
