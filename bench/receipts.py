"""Benchmark: receipt rendering and the way from a paid payment to the printer.

    from bench.receipts import run
    run()  # {"name", "n", "cases": [{case, p50_ms, p95_ms, goal_ms}, ...]}

Cases:
- ``escpos_render_<lang>``: ``receipts.escpos.render_escpos`` of a counter cash receipt
  (goal under 5 ms), each receipt with its own number and amounts. Vietnamese lines are drawn
  with Pillow; label images are cached after the first receipt, as in a running worker.
- ``payment_to_first_byte``: a cash payment committed at a counter station whose printer is
  a socket on 127.0.0.1, then one outbox pass of the print handler (what the worker does on
  its next pass); the time until the first byte of the receipt itself (after the status
  check) reaches the socket (goal under 100 ms). The worker's polling interval comes on top
  unless the view nudges the worker after commit.
"""

from __future__ import annotations

import datetime as dt
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

QUICK_N = 50
FULL_N = 300


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _row(case: str, ms: list[float], goal: float, cpu: list[float] | None = None) -> dict:
    """Wall-clock p50/p95; with ``cpu``, the goal is judged on CPU time, which other jobs on
    a shared machine do not inflate."""
    judged = cpu or ms
    row = {
        "case": case,
        "runs": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(_pct(ms, 0.95), 3),
    }
    if cpu:
        row["cpu_p50_ms"] = round(statistics.median(cpu), 3)
        row["cpu_p95_ms"] = round(_pct(cpu, 0.95), 3)
    row["goal_ms"] = goal
    row["met"] = _pct(judged, 0.95) < goal
    return row


def _document(lang: str):
    from receipts.document import BillLine, ReceiptDocument, TenderEntry, mask_name

    return ReceiptDocument(
        office_name="Santa Ana Trash & Recycling Payment Office",
        office_address=("1245 W 1st St", "Santa Ana, CA 92703"),
        office_phone="(714) 555-0142",
        receipt_number="SA-20261123-0042",
        business_date=dt.date(2026, 11, 23),
        issued_at=dt.datetime(2026, 11, 23, 22, 5, tzinfo=dt.UTC),
        account_number="100123",
        account_name_masked=mask_name("MARIA GONZALEZ"),
        service_address="1201 N BRISTOL ST",
        amount_cents=8450,
        station_name="Counter 2",
        cashier="Ana R.",
        bills=(BillLine("2611000001", 8450),),
        tenders=(TenderEntry("cash", 10000),),
        change_cents=1550,
        balance_after_cents=0,
        language=lang,
    )


def render_cases(n: int) -> list[dict]:
    from receipts.escpos import render_escpos

    rows = []
    import dataclasses

    for lang in ("en", "es", "vi"):
        doc = _document(lang)
        render_escpos(doc, "TM-T88V")  # warm: fonts loaded, label images cached
        # Every receipt has its own number and amounts, as in the office.
        docs = [
            dataclasses.replace(
                doc, receipt_number=f"SA-20261124-{i:04d}", amount_cents=1000 + 7 * i
            )
            for i in range(n)
        ]
        times, cpu = [], []
        for d in docs:
            t, c = time.perf_counter(), time.thread_time()
            render_escpos(d, "TM-T88V", kick_drawer=True)
            cpu.append((time.thread_time() - c) * 1000)
            times.append((time.perf_counter() - t) * 1000)
        rows.append(_row(f"escpos_render_{lang}", times, 5, cpu))
    return rows


class _Printer:
    """A loopback socket that answers "online" to DLE EOT and notes when receipt bytes come."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.first_receipt_byte: float | None = None
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    while data.startswith(b"\x10\x04"):
                        if len(data) < 3:
                            break
                        conn.sendall(b"\x12")
                        data = data[3:]
                    if data and self.first_receipt_byte is None:
                        self.first_receipt_byte = time.perf_counter()
            self.done.set()

    def close(self):
        self.sock.close()


def first_byte_case(n: int) -> dict:
    import kiosk.models  # noqa: F401
    from kiosk import receipting
    from kiosk.models import Account, Bill, Office, Station
    from payments import outbox, service
    from payments.db import Base, make_engine, make_session_factory
    from receipts.printing import PRINT_TOPIC

    printer = _Printer()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        Base.metadata.create_all(engine)
        sessions = make_session_factory(engine)
        receipting.register()
        handler = receipting.make_print_handler({"INSTANCE_PATH": tmp})
        with sessions() as s:
            office = Office(code="SA", name="Office", address="1 Main", city_line="Santa Ana")
            s.add(office)
            s.flush()
            station = Station(
                office_id=office.id,
                name="Counter 1",
                kind="counter",
                printer_url=f"tcp://127.0.0.1:{printer.port}",
            )
            account = Account(
                number="100001",
                kind="residential",
                name="MARIA GONZALEZ",
                house_number=1200,
                street_name="BRISTOL",
                zip_code="92703",
                pickup_day="tuesday",
                balance_cents=10**9,
            )
            s.add_all([station, account])
            s.flush()
            s.add(
                Bill(
                    account_id=account.id,
                    number="2611000001",
                    period_start=dt.date(2026, 10, 1),
                    period_end=dt.date(2026, 10, 31),
                    due_date=dt.date(2026, 11, 25),
                    amount_cents=10**9,
                    open_cents=10**9,
                    scanline="0" * 30,
                )
            )
            s.commit()
            ids = (office.id, station.id, account.id)
        times = []
        for _ in range(n):
            with sessions() as s:
                cmd = service.PaymentCommand(
                    office_id=ids[0],
                    account_id=ids[2],
                    account_number="100001",
                    channel="counter",
                    amount_cents=1000,
                    tenders=(service.TenderInput("cash", 1000),),
                    idempotency_key=uuid.uuid4().hex,
                    station_id=ids[1],
                    confirm_duplicate=True,
                    actor="bench",
                )
                service.create_payment(s, cmd)
                s.commit()
            succeeded = time.perf_counter()
            printer.first_receipt_byte = None
            printer.done.clear()
            outbox.deliver_due(sessions, {PRINT_TOPIC: handler}, topics=[PRINT_TOPIC], limit=1)
            printer.done.wait(5)
            times.append((printer.first_receipt_byte - succeeded) * 1000)
        engine.dispose()
    printer.close()
    return _row("payment_to_first_byte", times, 100)


def run(n: int | None = None) -> dict:
    n = n or FULL_N
    return {
        "name": "receipts",
        "n": n,
        "cases": [*render_cases(n), first_byte_case(max(10, n // 5))],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(QUICK_N), indent=2))
