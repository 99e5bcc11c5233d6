"""A stand-in CIS web service for the http adapter tests: a real werkzeug server on
127.0.0.1 that stores records by id, and can be stopped (connection refused), made to fail
with 5xx, and started again on the same port."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kiosk.models import Account, Bill, Office, Visit
from payments.models import Payment, PaymentAllocation, TenderLine
from tests import factories

TOKEN = "cis-test-token"


@dataclass
class FakeCis:
    """State of the stand-in CIS. ``mode``: "up", "5xx" or "429"."""

    port: int
    mode: str = "up"
    records: dict[tuple[str, str], dict] = field(default_factory=dict)
    puts: Counter = field(default_factory=Counter)  # accepted PUTs per (collection, id)
    requests: int = 0
    accounts: dict[str, dict] = field(default_factory=dict)
    _server: object = None
    _thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cis/v1"

    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.requests += 1
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if self.mode == "5xx":
            return Response("maintenance", status=503)
        if self.mode == "429":
            return Response("slow down", status=429, headers={"Retry-After": "0"})
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"error": "bad token"}, 401)
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["cis", "v1"]:
            return _json({"error": "no such resource"}, 404)
        collection, record_id = parts[2], parts[3]
        if request.method == "GET" and collection == "accounts":
            account = self.accounts.get(record_id)
            return _json(account, 200) if account else _json({"error": "unknown"}, 404)
        if request.method != "PUT":
            return _json({"error": "method"}, 405)
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return _json({"error": "not json"}, 400)
        if body.get("record_id") != record_id:
            return _json({"error": "record_id does not match the URL"}, 422)
        key = (collection, record_id)
        with self.lock:
            existing = self.records.get(key)
            if existing is not None and existing != body:
                return _json({"error": "different record with this id"}, 409)
            self.records[key] = body
            self.puts[key] += 1
        status = 200 if existing is not None else 201
        return _json({"confirmation": f"CIS-{collection}-{record_id}"}, status)

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Down: the port refuses connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None


def _json(data, status: int) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_cis():
    cis = FakeCis(port=_free_port())
    cis.start()
    yield cis
    cis.stop()


@dataclass
class Records:
    office: Office
    account: Account
    bill: Bill
    payment: Payment
    visit: Visit


def make_records(session) -> Records:
    """An office, an account with a bill, a completed split-tender payment and a visit."""
    office = session.query(Office).filter_by(code="SA").one_or_none()
    office = office or factories.make_office(session)
    account = factories.make_account(session, balance_cents=8450)
    bill = factories.make_bill(session, account)
    at = dt.datetime(2026, 11, 23, 18, 4, 5, tzinfo=dt.UTC)
    payment = Payment(
        office_id=office.id,
        account_id=account.id,
        account_number=account.number,
        channel="counter",
        status="succeeded",
        amount_cents=8450,
        change_cents=50,
        idempotency_key=f"test-{account.number}",
        business_date=dt.date(2026, 11, 23),
        receipt_seq=7,
        receipt_number=f"SA-20261123-{account.number}",
        card_brand="visa",
        card_last4="4242",
        card_auth_code="A1B2C3",
        processor_charge_id="ch_123",
        created_at=at,
        completed_at=at,
    )
    payment.tenders = [
        TenderLine(kind="card", amount_cents=5000),
        TenderLine(kind="cash", amount_cents=3450),
    ]
    payment.allocations = [PaymentAllocation(bill_id=bill.id, amount_cents=8450)]
    visit = Visit(
        office_id=office.id,
        channel="kiosk",
        account_id=account.id,
        language="es",
        reason_codes="payment,pickup_day",
        outcome_code="resolved",
        started_at=at,
        ended_at=at + dt.timedelta(minutes=3, seconds=20),
    )
    session.add_all([payment, visit])
    session.flush()
    return Records(office, account, bill, payment, visit)
