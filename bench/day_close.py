"""Benchmark: close a business day and build its daily report (``payments.days.close_day`` +
``payments.reports.daily_report``) for a day of ``n`` payments, beside the raw SQL aggregate
over the same rows measured in the same run (the report's figures by hand-written SQL: tenders,
payments by station, by cashier, refunds; also the bare minimum, tenders plus count and sum)
on a file SQLite database.

Rows are bulk-inserted (Core ``executemany``): several offices' volume in one office's day,
counter and kiosk, every tender, ~2 % voided, ~0.5 % refunded, ~10 % split tender. Each
timing is the best of ``REPEAT`` runs; the close is rolled back after each run.

    from bench.day_close import run
    run(100_000)  # {"name", "n", "close_report_ms", "raw_aggregate_ms", "ratio_cpu", ...}
    run_growth()  # the same at 10k, 50k and 100k, with the time per 1k payments
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

QUICK_N = 10_000
SIZES = (10_000, 50_000, 100_000)
REPEAT = 5
DAY = dt.date(2026, 11, 20)


def _seed(engine, n: int) -> int:
    from sqlalchemy import insert

    from kiosk.models import Account, Office, StaffUser, Station
    from payments.db import OFFICE_TZ
    from payments.models import Payment, Refund, TenderLine

    with engine.begin() as conn:
        office_id = conn.execute(
            insert(Office).values(
                code="SA", name="Bench office", address="1 Main", city_line="Santa Ana"
            )
        ).inserted_primary_key[0]
        stations = [
            conn.execute(
                insert(Station).values(office_id=office_id, name=f"{kind}-{i}", kind=kind)
            ).inserted_primary_key[0]
            for i, kind in enumerate(["counter", "counter", "counter", "kiosk", "kiosk"])
        ]
        staff = [
            conn.execute(
                insert(StaffUser).values(
                    username=f"cashier{i}",
                    full_name=f"Cashier {i}",
                    password_hash="!",  # noqa: S106  (no one signs in)
                    roles="cashier",
                    office_id=office_id,
                )
            ).inserted_primary_key[0]
            for i in range(4)
        ]
        account_id = conn.execute(
            insert(Account).values(
                number="500000",
                kind="residential",
                name="BENCH",
                house_number=1,
                street_name="MAIN",
                zip_code="92701",
                pickup_day="monday",
                balance_cents=0,
            )
        ).inserted_primary_key[0]
        start = dt.datetime.combine(DAY, dt.time(8), tzinfo=OFFICE_TZ).astimezone(dt.UTC)
        payments, tenders, refunds = [], [], []
        kinds = ["cash", "check", "money_order", "card"]
        for i in range(n):
            kiosk = i % 3 == 0
            kind = "card" if kiosk else kinds[i % 4]
            amount = 1_000 + (i * 37) % 40_000
            change = (i % 7) * 25 if kind == "cash" else 0
            status = "voided" if i % 50 == 1 else "succeeded"
            if i % 200 == 7 and status == "succeeded":
                status = "partially_refunded"
                refunds.append(
                    {
                        "id": f"r{i:031d}",
                        "payment_id": f"p{i:031d}",
                        "kind": "cash" if kind != "card" else "card",
                        "amount_cents": 500,
                        "status": "succeeded",
                        "business_date": DAY,
                        "approved_by_id": staff[0],
                        "idempotency_key": f"rk{i}",
                        "created_at": start,
                    }
                )
            at = start + dt.timedelta(seconds=i * 0.3)
            payments.append(
                {
                    "id": f"p{i:031d}",
                    "office_id": office_id,
                    "station_id": stations[3 + i % 2] if kiosk else stations[i % 3],
                    "staff_user_id": None if kiosk else staff[i % 4],
                    "account_id": account_id,
                    "account_number": "500000",
                    "channel": "kiosk" if kiosk else "counter",
                    "status": status,
                    "amount_cents": amount,
                    "fee_cents": 0,
                    "change_cents": change,
                    "refunded_cents": 500 if status == "partially_refunded" else 0,
                    "language": "en",
                    "idempotency_key": f"k{i}",
                    "business_date": DAY,
                    "receipt_seq": i + 1,
                    "receipt_number": f"SA-20261120-{i + 1:06d}",
                    "needs_review": False,
                    "created_at": at,
                    "updated_at": at,
                    "completed_at": at,
                    "voided_at": at if status == "voided" else None,
                    "voided_by_id": staff[1] if status == "voided" else None,
                }
            )
            if i % 10 == 5 and kind in ("check", "money_order"):  # split: part cash
                tenders.append(
                    {"payment_id": f"p{i:031d}", "kind": kind, "amount_cents": amount - 500,
                     "reference": str(i)}
                )  # fmt: skip
                tenders.append(
                    {"payment_id": f"p{i:031d}", "kind": "cash", "amount_cents": 500,
                     "reference": None}
                )  # fmt: skip
            else:
                tenders.append(
                    {"payment_id": f"p{i:031d}", "kind": kind, "amount_cents": amount + change,
                     "reference": None if kind in ("cash", "card") else str(i)}
                )  # fmt: skip
        conn.execute(insert(Payment), payments)
        conn.execute(insert(TenderLine), tenders)
        if refunds:
            conn.execute(insert(Refund), refunds)
    return office_id


# The raw baseline computes the report's figures by hand-written SQL: tender totals, the
# day's payments by station and status, by cashier and status, and the refunds by kind.
RAW_QUERIES = [
    """
SELECT t.kind, count(*), sum(t.amount_cents)
FROM tender_lines t JOIN payments p ON p.id = t.payment_id
WHERE p.office_id = :office AND p.business_date = :day AND p.status != 'voided'
GROUP BY t.kind
""",
    """
SELECT station_id, channel, status, count(*), sum(amount_cents), sum(fee_cents) FROM payments
WHERE office_id = :office AND business_date = :day GROUP BY station_id, channel, status
""",
    """
SELECT staff_user_id, status, count(*), sum(amount_cents) FROM payments
WHERE office_id = :office AND business_date = :day GROUP BY staff_user_id, status
""",
    """
SELECT r.kind, count(*), sum(r.amount_cents) FROM refunds r JOIN payments p ON p.id = r.payment_id
WHERE r.business_date = :day AND p.office_id = :office GROUP BY r.kind
""",
]
# The least a report could do: tender totals and the day's count and sum, nothing else.
MINIMAL_QUERIES = [
    RAW_QUERIES[0],
    """
SELECT count(*), sum(amount_cents) FROM payments
WHERE office_id = :office AND business_date = :day AND status != 'voided'
""",
]


def _best(fn) -> tuple[float, float]:
    """Best wall-clock and best CPU time of ``REPEAT`` runs (SQLite runs in this process, so
    CPU time is the figure a loaded machine does not inflate)."""
    wall = cpu = float("inf")
    for _ in range(REPEAT):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def run(n: int = QUICK_N, database_url: str | None = None) -> dict:
    from sqlalchemy import text

    import kiosk.models  # noqa: F401  (every table)
    from payments import days, reports
    from payments.db import Base, make_engine, make_session_factory

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        t0 = time.perf_counter()
        office_id = _seed(engine, n)
        seed_s = time.perf_counter() - t0
        sessions = make_session_factory(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE") if engine.dialect.name == "sqlite" else None
        report = None

        def close_and_report():
            nonlocal report
            with sessions() as s:
                days.close_day(s, office_id, DAY, "bench", now=dt.datetime(2026, 11, 21, 9, 0,
                               tzinfo=dt.UTC))  # fmt: skip
                report = reports.daily_report(s, office_id, DAY)
                s.rollback()

        def raw(queries):
            with sessions() as s:
                params = {"office": office_id, "day": DAY}
                for sql in queries:
                    s.execute(text(sql), params).all()
                s.rollback()

        raw(RAW_QUERIES)  # warm the page cache once for all
        raw_s = _best(lambda: raw(RAW_QUERIES))
        minimal_s = _best(lambda: raw(MINIMAL_QUERIES))
        close_s = _best(close_and_report)
        engine.dispose()
    return {
        "name": "day_close",
        "n": n,
        "database": "sqlite" if database_url is None else engine.dialect.name,
        "seed_s": round(seed_s, 2),
        "close_report_ms": round(close_s[0] * 1000, 1),
        "raw_aggregate_ms": round(raw_s[0] * 1000, 1),
        "raw_minimal_ms": round(minimal_s[0] * 1000, 1),
        "close_report_cpu_ms": round(close_s[1] * 1000, 1),
        "raw_aggregate_cpu_ms": round(raw_s[1] * 1000, 1),
        "raw_minimal_cpu_ms": round(minimal_s[1] * 1000, 1),
        "ratio_cpu": round(close_s[1] / raw_s[1], 2),
        "ratio_cpu_to_minimal": round(close_s[1] / minimal_s[1], 2),
        "within_2x": close_s[1] <= 2 * raw_s[1],
        "cpu_ms_per_1k_payments": round(close_s[1] * 1000 / (n / 1000), 2),
        "collected_count": report.collected.count if report else None,
    }


def run_growth(sizes=SIZES) -> dict:
    cases = [run(n) for n in sizes]
    return {"name": "day_close", "cases": cases}


if __name__ == "__main__":
    import json

    print(json.dumps(run_growth(), indent=2))
