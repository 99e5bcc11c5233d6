"""Benchmark: cash payments committed per second through ``payments.service.create_payment``
(tender math, bill allocation, receipt number, audit entry, outbox message, balance update;
one transaction each) on a file SQLite database, beside raw ``sqlite3`` loops with the same
durability settings (WAL, synchronous=NORMAL, one BEGIN IMMEDIATE ... COMMIT per payment):

- ``raw_single``: one INSERT per transaction (the floor of a commit);
- ``raw_same_rows``: the same rows the service writes per payment, as plain SQL.

    from bench.payments import run
    run(2000)  # {"name", "n", "payments_per_second", "raw_...", "ratio_...", "within_2x"}

With ``database_url`` (a PostgreSQL database that may be emptied) the service loop also runs
there; no raw baseline is measured for PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

QUICK_N = 300
FULL_N = 3_000
ACCOUNTS = 50


def _seed(session) -> tuple[int, list[tuple[int, str]]]:
    from kiosk.models import Account, Bill, Office

    office = Office(code="SA", name="Bench office", address="1 Main", city_line="Santa Ana")
    session.add(office)
    session.flush()
    accounts = []
    for i in range(ACCOUNTS):
        a = Account(
            number=str(500_000 + i),
            kind="residential",
            name="BENCH",
            house_number=100 + i,
            street_name="MAIN",
            zip_code="92701",
            pickup_day="monday",
            balance_cents=10**9,
        )
        session.add(a)
        session.flush()
        session.add(
            Bill(
                account_id=a.id,
                number=str(900_000 + i),
                period_start=dt.date(2026, 10, 1),
                period_end=dt.date(2026, 10, 31),
                due_date=dt.date(2026, 11, 25),
                amount_cents=10**9,
                open_cents=10**9,
                scanline=f"bench{i}",
            )
        )
        accounts.append((a.id, a.number))
    session.commit()
    return office.id, accounts


def service_loop(database_url: str, n: int) -> float:
    """Payments per second through the service, one commit each."""
    import kiosk.models  # noqa: F401
    from kiosk import payment_hooks
    from payments import service
    from payments.db import Base, make_engine, make_session_factory

    payment_hooks.register()
    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            office_id, accounts = _seed(session)
        started = time.perf_counter()
        with sessions() as session:
            for i in range(n):
                account_id, number = accounts[i % len(accounts)]
                amount = 1000 + i % 5000
                service.create_payment(
                    session,
                    service.PaymentCommand(
                        office_id=office_id,
                        account_id=account_id,
                        account_number=number,
                        channel="counter",
                        amount_cents=amount,
                        tenders=(service.TenderInput("cash", amount + 500),),
                        idempotency_key=uuid.uuid4().hex,
                        confirm_duplicate=True,
                        actor="bench",
                    ),
                )
                session.commit()
        return n / (time.perf_counter() - started)
    finally:
        engine.dispose()


def _raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def raw_single(path: Path, n: int) -> float:
    conn = _raw_connection(path)
    conn.execute(
        "CREATE TABLE payments (id TEXT PRIMARY KEY, account TEXT, amount_cents INTEGER, "
        "status TEXT, created_at TEXT)"
    )
    started = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO payments VALUES (?, ?, ?, 'succeeded', datetime('now'))",
            (uuid.uuid4().hex, str(500_000 + i % ACCOUNTS), 1000 + i % 5000),
        )
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - started)
    conn.close()
    return rate


def raw_same_rows(path: Path, n: int) -> float:
    """Per payment: payment, tender, allocation, receipt counter, audit entry and head,
    outbox message, account and bill updates."""
    conn = _raw_connection(path)
    conn.executescript(
        """
        CREATE TABLE payments (id TEXT PRIMARY KEY, account_id INTEGER, amount_cents INTEGER,
            change_cents INTEGER, status TEXT, receipt_number TEXT UNIQUE,
            idempotency_key TEXT UNIQUE, created_at TEXT);
        CREATE TABLE tenders (id INTEGER PRIMARY KEY, payment_id TEXT, kind TEXT, cents INTEGER);
        CREATE TABLE allocations (id INTEGER PRIMARY KEY, payment_id TEXT, bill_id INTEGER,
            cents INTEGER);
        CREATE TABLE seq (office INTEGER, day TEXT, last INTEGER, PRIMARY KEY (office, day));
        CREATE TABLE audit (seq INTEGER PRIMARY KEY, action TEXT, details TEXT, hash TEXT);
        CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT);
        CREATE TABLE outbox (id INTEGER PRIMARY KEY, topic TEXT, key TEXT, payload TEXT,
            UNIQUE (topic, key));
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER);
        CREATE TABLE bills (id INTEGER PRIMARY KEY, open INTEGER);
        INSERT INTO seq VALUES (1, '2026-11-20', 0);
        INSERT INTO head VALUES (1, 0, '');
        """
    )
    for i in range(ACCOUNTS):
        conn.execute("INSERT INTO accounts VALUES (?, ?)", (i, 10**9))
        conn.execute("INSERT INTO bills VALUES (?, ?)", (i, 10**9))
    started = time.perf_counter()
    for i in range(n):
        pid, amount, acct = uuid.uuid4().hex, 1000 + i % 5000, i % ACCOUNTS
        conn.execute("BEGIN IMMEDIATE")
        (number,) = conn.execute(
            "UPDATE seq SET last = last + 1 WHERE office = 1 AND day = '2026-11-20' RETURNING last"
        ).fetchone()
        conn.execute(
            "INSERT INTO payments VALUES (?, ?, ?, 500, 'succeeded', ?, ?, datetime('now'))",
            (pid, acct, amount, f"SA-20261120-{number:04d}", uuid.uuid4().hex),
        )
        conn.execute(
            "INSERT INTO tenders (payment_id, kind, cents) VALUES (?, 'cash', ?)",
            (pid, amount + 500),
        )
        conn.execute(
            "INSERT INTO allocations (payment_id, bill_id, cents) VALUES (?, ?, ?)",
            (pid, acct, amount),
        )
        seq, _ = conn.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        conn.execute("INSERT INTO audit VALUES (?, 'payment.succeeded', '{}', ?)", (seq + 1, pid))
        conn.execute("UPDATE head SET seq = ?, hash = ? WHERE id = 1", (seq + 1, pid))
        conn.execute(
            "INSERT INTO outbox (topic, key, payload) VALUES ('cis.payment', ?, '{}')", (pid,)
        )
        conn.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, acct))
        conn.execute("UPDATE bills SET open = open - ? WHERE id = ?", (amount, acct))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - started)
    conn.close()
    return rate


def run(n: int = FULL_N, database_url: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="payoffice-bench-") as tmp:
        root = Path(tmp)
        service_rate = service_loop(f"sqlite:///{root / 'service.db'}", n)
        single = raw_single(root / "raw1.db", n)
        same_rows = raw_same_rows(root / "raw2.db", n)
    result = {
        "name": "payments",
        "n": n,
        "payments_per_second": round(service_rate, 1),
        "raw_single_insert_per_second": round(single, 1),
        "raw_same_rows_per_second": round(same_rows, 1),
        "ratio_vs_raw_single": round(single / service_rate, 2),
        "ratio_vs_raw_same_rows": round(same_rows / service_rate, 2),
        "goal": "within 2x of the raw loop",
        "within_2x": same_rows / service_rate <= 2,
    }
    if database_url:
        result["postgresql_payments_per_second"] = round(service_loop(database_url, n), 1)
    return result


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else QUICK_N), indent=2))
