"""Benchmark: the performance measures of a month (``kiosk.measures.compute``) for a busy office,
beside raw SQL over the same rows in the same run, on a file SQLite database: the same figures
by hand-written SQL (``RAW_SAME``: the visits group-by, ticket counts, wait bins, the two p90
rows, payments, drawer time) and the bare minimum (``RAW_MIN``: counts and sums only).

``n`` queue tickets spread over the 30 days of November 2026; each ticket has a kiosk visit and
(if served) a counter visit; one walk-in payment per ticket. Each timing is the best of ``REPEAT``.

    from bench.measures import run
    run(30_000)  # {"name", "n", "measures_ms", "raw_same_figures_ms", "ratio", ...}
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

QUICK_N = 10_000
DEFAULT_N = 30_000  # about 1,000 customers a day: several offices' volume
REPEAT = 3
MONTH = dt.date(2026, 11, 1)
_EPOCH = "CAST(strftime('%s', {}) AS INTEGER)"
_WAIT = f"{_EPOCH.format('called_at')} - {_EPOCH.format('issued_at')}"
_SERVICE = f"{_EPOCH.format('ended_at')} - {_EPOCH.format('coalesce(called_at, started_at)')}"
_TICKETS = "FROM queue_tickets WHERE office_id = :o AND business_date BETWEEN :a AND :b"
_VISITS = "FROM visits WHERE office_id = :o AND started_at >= :s AND started_at < :e"
# The same figures by hand-written SQL: one query per figure family, as kiosk.measures runs.
RAW_SAME = [
    f"""SELECT channel, outcome_code, coalesce(reason_codes, ''), ticket_id IS NULL,
       {_EPOCH.format("started_at")} / 3600, count(*), count(ended_at), sum({_SERVICE})
       {_VISITS} GROUP BY 1, 2, 3, 4, 5""",
    f"""SELECT count(*), sum(called_at IS NOT NULL AND status <> 'no_show'),
       sum(status = 'no_show'), sum(called_at IS NULL AND business_date = :t) {_TICKETS}""",
    f"""SELECT min(max({_WAIT}, 0) / 300, 12) AS bin, count(*), sum({_WAIT}),
       sum({_WAIT} <= 900) {_TICKETS} AND called_at IS NOT NULL AND status <> 'no_show'
       GROUP BY bin""",
    f"""SELECT {_WAIT} AS w {_TICKETS} AND called_at IS NOT NULL AND status <> 'no_show'
       ORDER BY w LIMIT 1 OFFSET :wr""",
    f"""SELECT {_SERVICE} AS s {_VISITS} AND channel = 'counter' AND ended_at IS NOT NULL
       AND coalesce(outcome_code, '') NOT IN ('no_show', 'abandoned')
       ORDER BY s LIMIT 1 OFFSET :sr""",
    """SELECT sum(channel = 'kiosk'), count(*), sum(channel = 'counter') FROM payments
       WHERE office_id = :o AND business_date BETWEEN :a AND :b AND channel IN ('kiosk', 'counter')
       AND status IN ('succeeded', 'partially_refunded', 'refunded')""",
    f"""SELECT sum({_EPOCH.format("closed_at")} - {_EPOCH.format("opened_at")})
       FROM drawer_sessions WHERE office_id = :o AND business_date BETWEEN :a AND :b""",
]
# The bare minimum: counts and sums, no breakdowns, no percentiles.
RAW_MIN = [
    f"SELECT count(*), sum({_WAIT}) {_TICKETS} AND called_at IS NOT NULL",
    f"SELECT channel, count(*) {_VISITS} GROUP BY channel",
    """SELECT channel, count(*) FROM payments WHERE office_id = :o
       AND business_date BETWEEN :a AND :b AND status = 'succeeded' GROUP BY channel""",
]


def _seed(engine, n: int) -> int:
    from sqlalchemy import insert

    from kiosk.models import Account, Office, QueueTicket, StaffUser, Station, Visit
    from payments.db import OFFICE_TZ
    from payments.models import DrawerSession, Payment

    with engine.begin() as conn:
        office_id = conn.execute(
            insert(Office).values(
                code="SA", name="Bench office", address="1 Main", city_line="Santa Ana"
            )
        ).inserted_primary_key[0]
        station_id = conn.execute(
            insert(Station).values(office_id=office_id, name="counter-1", kind="counter")
        ).inserted_primary_key[0]
        staff_id = conn.execute(
            insert(StaffUser).values(
                username="cashier",
                full_name="Cashier",
                password_hash="!",  # noqa: S106  (no one signs in)
                roles="cashier",
                office_id=office_id,
            )
        ).inserted_primary_key[0]
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
        tickets, visits, payments, drawers = [], [], [], []
        per_day = max(n // 30, 1)
        for i in range(n):
            day = MONTH + dt.timedelta(days=min(i // per_day, 29))
            opening = dt.datetime.combine(day, dt.time(8), tzinfo=OFFICE_TZ).astimezone(dt.UTC)
            issued = opening + dt.timedelta(seconds=(i % per_day) * 30)
            served = i % 20 != 0
            called = issued + dt.timedelta(seconds=60 + (i * 97) % 2400) if served else None
            tickets.append(
                {
                    "id": i + 1,
                    "office_id": office_id,
                    "business_date": day,
                    "number": f"B{i:07d}",
                    "service": "billing",
                    "language": "en",
                    "status": "done" if served else "no_show",
                    "issued_at": issued,
                    "called_at": called,
                    "ended_at": called + dt.timedelta(minutes=6) if called else None,
                }
            )
            visits.append(
                {
                    "id": f"k{i:031d}",
                    "office_id": office_id,
                    "channel": "kiosk",
                    "language": "en",
                    "reason_codes": "billing.pay_bill" if i % 2 else "billing.question",
                    "outcome_code": "ticket_issued",
                    "ticket_id": i + 1,
                    "started_at": issued - dt.timedelta(minutes=1),
                    "ended_at": issued,
                }
            )
            if served:
                visits.append(
                    {
                        "id": f"c{i:031d}",
                        "office_id": office_id,
                        "channel": "counter",
                        "language": "en",
                        "reason_codes": "billing.question",
                        "outcome_code": "resolved",
                        "ticket_id": i + 1,
                        "started_at": called,
                        "called_at": called,
                        "ended_at": called + dt.timedelta(minutes=6),
                    }
                )
            payments.append(
                {
                    "id": f"p{i:031d}",
                    "office_id": office_id,
                    "account_id": account_id,
                    "account_number": "500000",
                    "channel": "kiosk" if i % 3 else "counter",
                    "status": "succeeded",
                    "amount_cents": 2_500,
                    "fee_cents": 0,
                    "change_cents": 0,
                    "refunded_cents": 0,
                    "language": "en",
                    "idempotency_key": f"k{i}",
                    "business_date": day,
                    "needs_review": False,
                    "created_at": issued,
                    "updated_at": issued,
                }
            )
        for d in range(30):
            day = MONTH + dt.timedelta(days=d)
            opening = dt.datetime.combine(day, dt.time(8), tzinfo=OFFICE_TZ).astimezone(dt.UTC)
            drawers.append(
                {
                    "office_id": office_id,
                    "station_id": station_id,
                    "cashier_id": staff_id,
                    "business_date": day,
                    "status": "closed",
                    "opened_at": opening,
                    "closed_at": opening + dt.timedelta(hours=9),
                    "float_cents": 10_000,
                }
            )
        conn.execute(insert(QueueTicket), tickets)
        conn.execute(insert(Visit), visits)
        conn.execute(insert(Payment), payments)
        conn.execute(insert(DrawerSession), drawers)
    return office_id


def _best(fn) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def run(n: int = DEFAULT_N) -> dict:
    from sqlalchemy import text

    import kiosk.models  # noqa: F401  (register every table)
    from kiosk import measures
    from payments.db import Base, make_engine, make_session_factory

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        Base.metadata.create_all(engine)
        office_id = _seed(engine, n)
        period = measures.period_for("month", MONTH)
        params = {
            "o": office_id,
            "a": period.first,
            "b": period.last,
            "s": period.start.replace(tzinfo=None),
            "e": period.end.replace(tzinfo=None),
        }
        session = make_session_factory(engine)()
        try:
            result = measures.compute(session, office_id, "month", MONTH)
            measures_ms = _best(lambda: measures.compute(session, office_id, "month", MONTH))

            params["t"] = dt.date.today()
            params["wr"] = measures._p90_rank(result.wait.count) - 1
            params["sr"] = measures._p90_rank(result.service.count) - 1

            def raw(queries: list[str]):
                return lambda: [session.execute(text(q), params).all() for q in queries]

            same_ms = _best(raw(RAW_SAME))
            min_ms = _best(raw(RAW_MIN))
        finally:
            session.close()
            engine.dispose()
    return {
        "name": "measures",
        "n": n,
        "measures_ms": round(measures_ms, 1),
        "raw_same_figures_ms": round(same_ms, 1),
        "raw_minimum_ms": round(min_ms, 1),
        "ratio": round(measures_ms / same_ms, 2) if same_ms else None,
        "ratio_to_minimum": round(measures_ms / min_ms, 2) if min_ms else None,
        "visits": result.visits,
        "payments": result.self_service.denominator,
        "tickets_served": result.tickets_served,
    }
