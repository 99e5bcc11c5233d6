"""Benchmark: ``kiosk.accounts.find_accounts`` on a SQLite database of ``n`` accounts, beside
the bare indexed query through the ``sqlite3`` module for the same lookups.

    from bench.lookup import run
    run(500_000)  # {"name", "n", "build_seconds", "cases": [{case, p50_ms, p95_ms, ...}]}

Cases: account number, bill scanline, house number + street, street only. Each is timed
over ``queries`` random lookups that hit existing accounts; the times are server-side (the
function call, no HTTP). What each side of each ratio includes: see ``measure``.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

QUICK_N = 20_000
FULL_N = 500_000
QUERIES = 2_000

_WORDS = [
    "BRISTOL",
    "MAIN",
    "FAIRVIEW",
    "EDINGER",
    "GRAND",
    "FLOWER",
    "RAITT",
    "HARBOR",
    "SULLIVAN",
    "GREENVILLE",
    "STANDARD",
    "MCFADDEN",
    "WARNER",
    "DYER",
    "SEGERSTROM",
    "LYON",
    "GLASSELL",
    "TUSTIN",
    "CIVIC",
    "ORANGE",
    "PACIFIC",
    "OLIVE",
    "BROADWAY",
    "SYCAMORE",
    "ROSS",
    "BUSH",
    "SPURGEON",
    "FRENCH",
    "BAKER",
    "CENTRAL",
    "WALNUT",
    "PARTON",
    "CYPRESS",
    "LINCOLN",
    "VALENCIA",
    "ELK",
    "HAZARD",
    "WESTMINSTER",
    "FIRST",
    "HALLADAY",
    "GARFIELD",
    "MINNIE",
    "ARTESIA",
    "MONTE",
    "ALMOND",
    "CAMILE",
    "PARK",
    "JACKSON",
    "DAISY",
    "SHELTON",
    "VICTORIA",
    "VETA",
    "EUCLID",
    "POINSETTIA",
]
_PREFIXES = ("", "", "", "VIA ", "CALLE ", "EL ", "LAS ", "SAN ")
_NUMBERED = [f"{n}{'ST' if n % 10 == 1 and n != 11 else 'TH'}" for n in range(1, 30)]
DIRS = ("N", "S", "E", "W", None, None)
SUFFIXES = ("ST", "ST", "AVE", "AVE", "BLVD", "DR", "PL", "WAY", "LN", None)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def street_names(count: int = 400, seed: int = 11) -> list[str]:
    """A few hundred distinct street names, like a mid-sized city's."""
    rnd = random.Random(seed)
    names = set(_NUMBERED) | set(_WORDS)
    while len(names) < count:
        names.add(f"{rnd.choice(_PREFIXES)}{rnd.choice(_WORDS)} {rnd.choice(_WORDS)}".strip())
    return sorted(names)[:count]


def build(path: Path, n: int, seed: int = 7) -> list[tuple]:
    """Create the schema (the real models, so the real indexes) and bulk-insert ``n``
    accounts. Street sizes follow a Zipf-like curve: a few long arterials, many short
    streets. Returns (number, house_number, street_name) for every account."""
    from kiosk import models  # noqa: F401  (register every table)
    from payments.db import Base, make_engine

    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()

    rnd = random.Random(seed)
    streets = street_names()
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(streets))]
    rnd.shuffle(streets)
    chosen = rnd.choices(streets, weights=weights, k=n)
    rows = []
    keys = []
    for i, street in enumerate(chosen):
        number = str(1_000_000 + i)
        house = rnd.randrange(100, 10_000)
        unit = f"APT {rnd.randrange(1, 40)}" if rnd.random() < 0.1 else None
        rows.append(
            (
                number,
                "residential" if i % 9 else "commercial",
                f"CUSTOMER {i}",
                house,
                rnd.choice(DIRS),
                street,
                rnd.choice(SUFFIXES),
                unit,
                "SANTA ANA",
                "92701",
                DAYS[i % 5],
                "trash 96 gal; recycling 96 gal",
                rnd.randrange(0, 40_000),
                0,
            )
        )
        keys.append((number, house, street))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO accounts (number, kind, name, house_number, street_dir, street_name, "
            "street_suffix, unit, city, zip_code, pickup_day, services, balance_cents, "
            "past_due_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.execute("ANALYZE")
    conn.close()
    return keys


def _queries(keys: list[tuple], count: int, seed: int = 3) -> dict[str, list[str]]:
    from hardware import scanline

    rnd = random.Random(seed)
    sample = [rnd.choice(keys) for _ in range(count)]
    return {
        "number": [k[0] for k in sample],
        "scanline": [
            scanline.compose(k[0], str(2_611_000_000 + i), rnd.randrange(1, 40_000))
            for i, k in enumerate(sample)
        ],
        "house+street": [f"{k[1]} {k[2].lower()}" for k in sample],
        "street": [k[2].lower() for k in sample],
    }


_COLUMNS = "number, name, house_number, street_dir, street_name, street_suffix, unit, pickup_day"
_RAW_SQL = {
    "number": f"SELECT {_COLUMNS} FROM accounts WHERE number = ?",
    "house+street": (
        f"SELECT {_COLUMNS} FROM accounts WHERE house_number = ? AND street_name >= ? "
        "AND street_name < ? ORDER BY street_name, street_dir, unit, number LIMIT 21"
    ),
    "street": (
        f"SELECT {_COLUMNS} FROM accounts WHERE street_name >= ? AND street_name < ? "
        "ORDER BY street_name, house_number LIMIT 21"
    ),
}


def _raw_params(case: str, q: str) -> tuple[str, tuple]:
    """The bare query for a lookup: what a hand-written handler would send."""
    if case == "number":
        return _RAW_SQL["number"], (q,)
    if case == "scanline":
        return _RAW_SQL["number"], (str(int(q[:10])),)
    if case == "house+street":
        house, street = q.split(" ", 1)
        street = street.upper()
        return _RAW_SQL["house+street"], (int(house), street, _after(street))
    street = q.upper()
    return _RAW_SQL["street"], (street, _after(street))


def _after(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def measure(path: Path, queries: dict[str, list[str]]) -> list[dict]:
    """Time each lookup four ways, interleaved so that load on the machine hits all alike.

    - in txn: ``find_accounts`` inside an open transaction (the function alone) against the
      bare query through ``sqlite3`` inside an open transaction on an open connection. Both
      sides reuse one open connection; neither pays for starting a transaction. This is the
      ratio the goal is about.
    - request: what a request's lookup pays on each side. Ours: a fresh transaction from the
      session (pool checkout, ``BEGIN IMMEDIATE`` as ``payments.db`` issues it), the lookup,
      and the rollback that returns the connection; raw: ``BEGIN IMMEDIATE``, the bare query,
      ``ROLLBACK`` on the open ``sqlite3`` connection.

    Wall-clock and CPU (thread) time are both kept: on a busy machine the wall-clock p95
    mostly measures the scheduler."""
    from kiosk.accounts import find_accounts
    from payments.db import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{path}")
    session = make_session_factory(engine)()
    raw = sqlite3.connect(path, isolation_level=None)  # transactions by hand, as ours
    clock, cpu = time.perf_counter, time.thread_time
    keys = ("ours", "cpu", "raw", "raw_cpu", "req", "raw_req")
    cases = []
    try:
        for case, texts in queries.items():
            t: dict[str, list[float]] = {k: [] for k in keys}
            found = same = 0
            for q in texts[:50]:  # warm the caches and the compiled statements
                find_accounts(session, q)
                session.rollback()
            for q in texts:
                sql, params = _raw_params(case, q)
                # request-shaped, ours then raw
                w0 = clock()
                find_accounts(session, q)
                session.rollback()
                t["req"].append(clock() - w0)
                w0 = clock()
                raw.execute("BEGIN IMMEDIATE")
                raw.execute(sql, params).fetchall()
                raw.execute("ROLLBACK")
                t["raw_req"].append(clock() - w0)
                # inside an open transaction, ours then raw
                session.connection()
                w0, c0 = clock(), cpu()
                result = find_accounts(session, q)
                w1, c1 = clock(), cpu()
                session.rollback()
                t["ours"].append(w1 - w0)
                t["cpu"].append(c1 - c0)
                raw.execute("BEGIN IMMEDIATE")
                w0, c0 = clock(), cpu()
                rows = raw.execute(sql, params).fetchall()
                w1, c1 = clock(), cpu()
                raw.execute("ROLLBACK")
                t["raw"].append(w1 - w0)
                t["raw_cpu"].append(c1 - c0)
                found += bool(result.accounts)
                same += [a.number for a in result.accounts[:20]] == [r[0] for r in rows[:20]]
            p = {k: _percentiles(v) for k, v in t.items()}
            cases.append(
                {
                    "case": case,
                    "queries": len(texts),
                    "found": found,
                    "same_rows": same,
                    "p50_ms": round(p["ours"][0], 3),
                    "p95_ms": round(p["ours"][1], 3),
                    "cpu_p95_ms": round(p["cpu"][1], 3),
                    "raw_p50_ms": round(p["raw"][0], 3),
                    "raw_p95_ms": round(p["raw"][1], 3),
                    "raw_cpu_p95_ms": round(p["raw_cpu"][1], 3),
                    "ratio_p50": _ratio(p["ours"][0], p["raw"][0]),
                    "ratio_p95": _ratio(p["ours"][1], p["raw"][1]),
                    "ratio_cpu_p95": _ratio(p["cpu"][1], p["raw_cpu"][1]),
                    "req_p50_ms": round(p["req"][0], 3),
                    "req_p95_ms": round(p["req"][1], 3),
                    "raw_req_p50_ms": round(p["raw_req"][0], 3),
                    "raw_req_p95_ms": round(p["raw_req"][1], 3),
                    "req_ratio_p50": _ratio(p["req"][0], p["raw_req"][0]),
                    "req_ratio_p95": _ratio(p["req"][1], p["raw_req"][1]),
                }
            )
    finally:
        session.close()
        engine.dispose()
        raw.close()
    return cases


def _ratio(ours: float, raw: float) -> float | None:
    return round(ours / raw, 1) if raw else None


def run(n: int = FULL_N, queries: int = QUERIES) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
        path = Path(tmp) / "lookup.db"
        t0 = time.perf_counter()
        keys = build(path, n)
        build_seconds = time.perf_counter() - t0
        cases = measure(path, _queries(keys, queries))
    return {"name": "lookup", "n": n, "build_seconds": round(build_seconds, 2), "cases": cases}
