"""Benchmark: cash payments committed per second through ``payments.service.create_payment``
(tender math, bill allocation, receipt number, audit entry, outbox message, balance update;
one transaction each) beside raw DBAPI loops with the same durability settings (SQLite: WAL,
synchronous=NORMAL, one BEGIN IMMEDIATE ... COMMIT per payment):

- ``raw same rows``: on the real schema (every index, constraint and trigger), the statements
  a payment needs as plain SQL: the same reads (idempotency key, business day, account, open
  bills, audit head), the same rows with the same values (payment, tender line, allocation,
  receipt counter, audit entry with its hash and the head, CIS outbox message with its JSON,
  account and bill updates) and, on PostgreSQL, the same locks (advisory lock, FOR UPDATE);
- ``raw simplified`` (SQLite): the earlier baseline, the same kinds of rows in small tables
  without indexes, JSON or hash (kept to compare with earlier runs);
- ``raw single`` (SQLite): one INSERT per transaction, the floor of a commit.

The two sides run interleaved in chunks, so load on a shared machine hits both alike; wall
and CPU (process) time are kept for each.

    from bench.payments import run
    run(2000)  # {"name", "n", "cases": [...]}

With ``BENCH_POSTGRESQL=1`` in the environment (or ``run(n, postgresql=True)``) the service
and the raw loop also run on a private PostgreSQL cluster (as the tests start one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

QUICK_N = 300
FULL_N = 3_000
ACCOUNTS = 50
CHUNK = 100
AUDIT_LOCK_KEY = 7270011  # payments.audit._PG_LOCK_KEY
OFFICE_TZ = ZoneInfo("America/Los_Angeles")


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


def _fresh_database(database_url: str):
    """An engine on an emptied database with the real schema, seeded; (engine, office, accounts)."""
    import kiosk.models  # noqa: F401
    from payments.db import Base, make_engine, make_session_factory

    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as session:
        office_id, accounts = _seed(session)
    return engine, office_id, accounts


class _Loop:
    """A payment loop run in chunks; keeps its wall and CPU time."""

    wall = cpu = 0.0
    done = 0

    def chunk(self, n: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            self.pay(self.done)
            self.done += 1
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu

    def pay(self, i: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def rates(self) -> tuple[float, float]:
        return self.done / self.wall, self.done / self.cpu


class ServiceLoop(_Loop):
    """Payments through the service, one session, one commit each."""

    def __init__(self, database_url: str):
        from kiosk import payment_hooks
        from payments import service
        from payments.db import make_session_factory

        payment_hooks.register()
        self.service = service
        self.engine, self.office_id, self.accounts = _fresh_database(database_url)
        self.session = make_session_factory(self.engine)()

    def pay(self, i: int) -> None:
        service = self.service
        account_id, number = self.accounts[i % len(self.accounts)]
        amount = 1000 + i % 5000
        service.create_payment(
            self.session,
            service.PaymentCommand(
                office_id=self.office_id,
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
        self.session.commit()

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()


def _json(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class RawSameRows(_Loop):
    """The statements and rows of one cash payment as plain SQL on the real schema."""

    def __init__(self, database_url: str):
        engine, self.office_id, self.accounts = _fresh_database(database_url)
        self.pg = engine.dialect.name == "postgresql"
        engine.dispose()
        if self.pg:
            import psycopg

            url = database_url.replace("postgresql+psycopg://", "postgresql://")
            self.conn = psycopg.connect(url, autocommit=True)
            self.begin = "BEGIN"
        else:
            self.conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
            self.conn.isolation_level = None
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.begin = "BEGIN IMMEDIATE"
        self.cur = self.conn.cursor()
        lock = " FOR UPDATE" if self.pg else ""
        self.sql = {
            name: sql.replace("?", "%s") if self.pg else sql
            for name, sql in {
                "key": "SELECT id FROM payments WHERE idempotency_key = ?",
                "day": "SELECT status FROM business_days WHERE office_id = ? AND business_date = ?",
                "account": f"SELECT id, number, balance_cents FROM accounts WHERE id = ?{lock}",
                "bills": "SELECT id, open_cents, number FROM bills WHERE account_id = ? AND "
                f"open_cents > 0 ORDER BY due_date, id{lock}",
                "seq": "INSERT INTO receipt_sequences (office_id, business_date, last_number) "
                "VALUES (?, ?, 1) ON CONFLICT (office_id, business_date) DO UPDATE SET "
                "last_number = receipt_sequences.last_number + 1 RETURNING last_number",
                "head": f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}",
                "audit": "INSERT INTO audit_events (seq, at, actor, action, entity, entity_id, "
                "office_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                "new_head": "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)",
                "move_head": "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
                "payment": "INSERT INTO payments (id, office_id, station_id, staff_user_id, "
                "account_id, account_number, channel, status, amount_cents, fee_cents, "
                "change_cents, refunded_cents, language, idempotency_key, business_date, "
                "receipt_seq, receipt_number, email, card_brand, card_last4, card_auth_code, "
                "processor_intent_id, processor_charge_id, reader_id, failure_code, "
                "failure_message, needs_review, created_at, updated_at, completed_at, "
                "voided_at, voided_by_id, void_reason, drawer_session_id) VALUES (?, ?, NULL, "
                "NULL, ?, ?, 'counter', 'succeeded', ?, 0, ?, 0, 'en', ?, ?, ?, ?, NULL, NULL, "
                "NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?, ?, ?, ?, NULL, NULL, NULL, NULL)",
                "tender": "INSERT INTO tender_lines (payment_id, kind, amount_cents, reference, "
                "bank) VALUES (?, 'cash', ?, NULL, NULL) RETURNING id",
                "allocation": "INSERT INTO payment_allocations (payment_id, bill_id, "
                "amount_cents) VALUES (?, ?, ?) RETURNING id",
                "account_paid": "UPDATE accounts SET balance_cents = balance_cents - ?, "
                "last_payment_cents = ?, last_payment_date = ? WHERE id = ?",
                "bill_paid": "UPDATE bills SET open_cents = open_cents - ? WHERE id = ?",
                "outbox": "INSERT INTO outbox_messages (topic, key, payload, status, attempts, "
                "office_id, available_at, created_at) VALUES ('cis.payment', ?, ?, 'pending', 0, "
                "?, ?, ?)",
            }.items()
        }

    def _stored(self, value):
        """Dates and times as the SQLAlchemy column types store them."""
        if self.pg:
            return value
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value.isoformat()

    def pay(self, i: int) -> None:
        x, q = self.cur.execute, self.sql
        account_id, number = self.accounts[i % len(self.accounts)]
        amount, key, pid = 1000 + i % 5000, uuid.uuid4().hex, uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC)
        day = now.astimezone(OFFICE_TZ).date()
        x(self.begin)
        if self.pg:
            x("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
        x(q["key"], (key,))
        assert self.cur.fetchone() is None
        x(q["day"], (self.office_id, self._stored(day)))
        self.cur.fetchone()
        x(q["account"], (account_id,))
        self.cur.fetchone()
        x(q["bills"], (account_id,))
        bill_id, _, bill_number = self.cur.fetchall()[0]
        x(q["seq"], (self.office_id, self._stored(day)))
        (seq,) = self.cur.fetchone()
        receipt = f"SA-{day:%Y%m%d}-{seq:04d}"
        x(q["head"])
        head = self.cur.fetchone()
        audit_seq, prev_hash = (head[0] + 1, head[1]) if head else (1, "0" * 64)
        details = json.dumps(
            {
                "account": number,
                "amount_cents": amount,
                "change_cents": 500,
                "channel": "counter",
                "from": "created",
                "receipt": receipt,
                "tenders": [["cash", amount + 500]],
                "to": "succeeded",
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        audit_hash = hashlib.sha256(
            _json(
                {
                    "seq": audit_seq,
                    "at": now.isoformat(timespec="microseconds"),
                    "actor": "bench",
                    "action": "payment.succeeded",
                    "entity": "payment",
                    "entity_id": pid,
                    "office_id": self.office_id,
                    "details": details,
                    "prev_hash": prev_hash,
                }
            ).encode()
        ).hexdigest()
        stored_now = self._stored(now)
        x(
            q["audit"],
            (
                audit_seq,
                stored_now,
                "bench",
                "payment.succeeded",
                "payment",
                pid,
                self.office_id,
                details,
                prev_hash,
                audit_hash,
            ),
        )
        x(q["move_head"] if head else q["new_head"], (audit_seq, audit_hash))
        x(
            q["payment"],
            (
                pid,
                self.office_id,
                account_id,
                number,
                amount,
                500,
                key,
                self._stored(day),
                seq,
                receipt,
                False,
                stored_now,
                stored_now,
                stored_now,
            ),
        )
        x(q["tender"], (pid, amount + 500))
        self.cur.fetchone()
        x(q["allocation"], (pid, bill_id, amount))
        self.cur.fetchone()
        x(q["account_paid"], (amount, amount, self._stored(day), account_id))
        x(q["bill_paid"], (amount, bill_id))
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        payload = json.dumps(
            {
                "record_type": "payment",
                "schema_version": 1,
                "record_id": pid,
                "office_code": "SA",
                "account_number": number,
                "amount_cents": amount,
                "fee_cents": 0,
                "change_cents": 500,
                "channel": "counter",
                "status": "succeeded",
                "receipt_number": receipt,
                "business_date": day.isoformat(),
                "station_id": None,
                "staff_user_id": None,
                "tenders": [
                    {"kind": "cash", "amount_cents": amount + 500, "reference": None, "bank": None}
                ],
                "allocations": [{"bill_number": bill_number, "amount_cents": amount}],
                "created_at": stamp,
                "completed_at": stamp,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        x(q["outbox"], (pid, payload, self.office_id, stored_now, stored_now))
        x("COMMIT")

    def close(self) -> None:
        self.conn.close()


class RawSimplified(_Loop):
    """The earlier baseline: per payment a payment, tender, allocation, receipt counter, audit
    entry and head, outbox message, account and bill update, in small unindexed tables."""

    def __init__(self, path: Path):
        self.conn = _raw_connection(path)
        self.conn.executescript(
            """
            CREATE TABLE payments (id TEXT PRIMARY KEY, account_id INTEGER, amount_cents INTEGER,
                change_cents INTEGER, status TEXT, receipt_number TEXT UNIQUE,
                idempotency_key TEXT UNIQUE, created_at TEXT);
            CREATE TABLE tenders (id INTEGER PRIMARY KEY, payment_id TEXT, kind TEXT,
                cents INTEGER);
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
            self.conn.execute("INSERT INTO accounts VALUES (?, ?)", (i, 10**9))
            self.conn.execute("INSERT INTO bills VALUES (?, ?)", (i, 10**9))

    def pay(self, i: int) -> None:
        conn = self.conn
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

    def close(self) -> None:
        self.conn.close()


class RawSingle(_Loop):
    """One INSERT per transaction: the floor of a commit."""

    def __init__(self, path: Path):
        self.conn = _raw_connection(path)
        self.conn.execute(
            "CREATE TABLE payments (id TEXT PRIMARY KEY, account TEXT, amount_cents INTEGER, "
            "status TEXT, created_at TEXT)"
        )

    def pay(self, i: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "INSERT INTO payments VALUES (?, ?, ?, 'succeeded', datetime('now'))",
            (uuid.uuid4().hex, str(500_000 + i % ACCOUNTS), 1000 + i % 5000),
        )
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def _raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def interleaved(loops: dict[str, _Loop], n: int) -> dict[str, tuple[float, float]]:
    """Run every loop for ``n`` payments, taking turns by chunks; (wall rate, CPU rate) each."""
    try:
        while any(loop.done < n for loop in loops.values()):
            for loop in loops.values():
                loop.chunk(min(CHUNK, n - loop.done))
        return {name: loop.rates() for name, loop in loops.items()}
    finally:
        for loop in loops.values():
            loop.close()


def _case(database: str, rates: dict[str, tuple[float, float]]) -> dict:
    (ours, ours_cpu), (raw, raw_cpu) = rates["service"], rates["raw_same_rows"]
    case = {
        "database": database,
        "payments_per_second": round(ours, 1),
        "raw_same_rows_per_second": round(raw, 1),
        "ratio": round(raw / ours, 2),
        "cpu_payments_per_second": round(ours_cpu, 1),
        "cpu_raw_same_rows_per_second": round(raw_cpu, 1),
        "cpu_ratio": round(raw_cpu / ours_cpu, 2),
    }
    for name in ("raw_simplified", "raw_single"):
        if name in rates:
            case[f"{name}_per_second"] = round(rates[name][0], 1)
            case[f"ratio_vs_{name}"] = round(rates[name][0] / ours, 2)
    case["within_2x"] = case["ratio"] <= 2
    return case


def _postgresql_case(n: int) -> dict:
    from sqlalchemy import text

    from payments.db import make_engine
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        admin = make_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE bench_service"))
            conn.execute(text("CREATE DATABASE bench_raw"))
        admin.dispose()
        loops = {
            "service": ServiceLoop(cluster.url("bench_service")),
            "raw_same_rows": RawSameRows(cluster.url("bench_raw")),
        }
        return _case("postgresql", interleaved(loops, n))
    finally:
        cluster.stop()


def run(n: int = FULL_N, postgresql: bool | None = None) -> dict:
    if postgresql is None:
        postgresql = os.environ.get("BENCH_POSTGRESQL") == "1"
    with tempfile.TemporaryDirectory(prefix="payoffice-bench-") as tmp:
        root = Path(tmp)
        loops = {
            "service": ServiceLoop(f"sqlite:///{root / 'service.db'}"),
            "raw_same_rows": RawSameRows(f"sqlite:///{root / 'raw.db'}"),
            "raw_simplified": RawSimplified(root / "simplified.db"),
            "raw_single": RawSingle(root / "single.db"),
        }
        cases = [_case("sqlite", interleaved(loops, n))]
    if postgresql:
        cases.append(_postgresql_case(n))
    return {
        "name": "payments",
        "n": n,
        "goal": "within 2x of the raw loop (same rows)",
        "cases": cases,
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else QUICK_N), indent=2))
