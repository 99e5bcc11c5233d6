"""The receipts API through the real app: JSON, PDF, PNG and reprint, and who may see what."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from payments.audit import AuditEvent
from payments.models import Payment
from payments.outbox import OutboxMessage
from payments.service import TenderInput
from tests.conftest import csrf_token
from tests.receipts.conftest import pay

TOKEN_PAGE = "/pair"  # a public page that carries the CSRF meta tag for any caller


@pytest.fixture
def cashier(client, login_as):
    login_as("cashier")
    client.csrf = csrf_token(client, TOKEN_PAGE)
    return client


@pytest.fixture
def kiosk(kiosk_client):
    kiosk_client.csrf = csrf_token(kiosk_client, TOKEN_PAGE)
    return kiosk_client


def test_staff_get_json_pdf_png(session, world, cashier):
    payment = pay(session, world, 8000, TenderInput("cash", 10000), language="es")
    r = cashier.get(f"/api/v1/receipts/{payment.receipt_number}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["receipt_number"] == payment.receipt_number and body["status"] == "succeeded"
    assert body["document"]["amount_cents"] == 8000 and body["document"]["change_cents"] == 2000
    assert "RECIBO DE PAGO" in body["text"]
    assert [j["key"] for j in body["print_jobs"]] == [f"{payment.receipt_number}:copy1"]

    pdf = cashier.get(f"/api/v1/receipts/{payment.receipt_number}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    png = cashier.get(f"/api/v1/receipts/{payment.receipt_number}.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG")


def test_anonymous_is_refused(client, session, world):
    payment = pay(session, world, 1000)
    r = client.get(f"/api/v1/receipts/{payment.receipt_number}.pdf")
    assert r.status_code == 401


def test_reprint_is_marked_and_audited(session, world, cashier):
    payment = pay(session, world, 1000)
    url = f"/api/v1/receipts/{payment.receipt_number}/print"
    r = cashier.post(url, json={"copies": 2}, headers={"X-CSRFToken": cashier.csrf})
    assert r.status_code == 202
    n = payment.receipt_number
    assert r.get_json()["jobs"] == [f"{n}:reprint1:copy1", f"{n}:reprint1:copy2"]
    r = cashier.post(url, headers={"X-CSRFToken": cashier.csrf})
    assert r.get_json()["jobs"] == [f"{n}:reprint2:copy1"]
    session.expire_all()
    jobs = session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.like(f"{n}:reprint%"))
    ).all()
    assert len(jobs) == 3
    assert all(j.data["document"]["reprint"] for j in jobs)
    assert all(j.data["printer_url"] == "preview://" for j in jobs)  # staff at no station
    assert not any(j.data["kick_drawer"] for j in jobs)  # a reprint never opens the drawer
    audits = session.scalars(select(AuditEvent).where(AuditEvent.action == "receipt.reprinted"))
    assert len(audits.all()) == 2
    session.commit()


def test_bad_requests_are_refused_and_change_nothing(session, world, cashier):
    for number in ("SA-20990101-0001", "x" * 40, "SA%20DROP"):
        r = cashier.get(f"/api/v1/receipts/{number}")
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
        r = cashier.post(f"/api/v1/receipts/{number}/print", headers={"X-CSRFToken": cashier.csrf})
        assert r.status_code == 404
    payment = pay(session, world, 1000)
    r = cashier.post(f"/api/v1/receipts/{payment.receipt_number}/print")  # no CSRF token
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "csrf_failed"
    for copies in (0, 6, "2", 1.0, True, None):
        r = cashier.post(
            f"/api/v1/receipts/{payment.receipt_number}/print",
            json={"copies": copies},
            headers={"X-CSRFToken": cashier.csrf},
        )
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_copies", copies
    count = session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.like(f"{payment.receipt_number}:reprint%"))
    ).all()
    assert count == []
    session.commit()


def test_kiosk_sees_only_its_own_recent_receipts(session, world, kiosk):
    own = pay(
        session, world, 1000, TenderInput("card", 1000), at="kiosk", station_id=kiosk.station_id
    )
    other = pay(session, world, 1500, TenderInput("card", 1500), at="kiosk")
    assert kiosk.get(f"/api/v1/receipts/{own.receipt_number}").status_code == 200
    assert kiosk.get(f"/api/v1/receipts/{own.receipt_number}.png").status_code == 200
    r = kiosk.post(
        f"/api/v1/receipts/{own.receipt_number}/print", headers={"X-CSRFToken": kiosk.csrf}
    )
    assert r.status_code == 202
    assert kiosk.get(f"/api/v1/receipts/{other.receipt_number}").status_code == 403
    r = kiosk.post(
        f"/api/v1/receipts/{other.receipt_number}/print", headers={"X-CSRFToken": kiosk.csrf}
    )
    assert r.status_code == 403

    # Twenty minutes later the customer has gone: the kiosk no longer shows it.
    session.execute(
        update(Payment)
        .where(Payment.id == own.id)
        .values(completed_at=own.completed_at - dt.timedelta(minutes=20))
    )
    session.commit()
    assert kiosk.get(f"/api/v1/receipts/{own.receipt_number}.pdf").status_code == 403
