"""Benchmark: server time of each kiosk step on the pay path, through the Flask test client
in-process (no network), beside a bare Flask "hello" route measured in the same run.

    from bench.kiosk import run
    run(200)  # {"name", "n", "hello_p50_ms", "cases": [{case, p50_ms, p95_ms, ...}]}

One visit per account, as a customer makes it: attract screen, scan the bill, account page,
"Pay" (printer check, preview printer here), the pay page, create the payment (payments API,
simulated reader), poll its status once (the simulated reader decides on the first poll, so
this is the poll that completes the payment: receipt number, ledger, receipt print job and
CIS record in the outbox), the approved page, and "Finish". The row ``whole pay path`` is the
sum of a visit's requests. Goal: every kiosk request under 25 ms p95 server time.
SQLite file database; print jobs stay in the outbox (PRINT_IMMEDIATELY off), as the worker
delivers them outside the request.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

QUICK_N = 50
FULL_N = 300
WARMUP = 5
GOAL_MS = 25.0
STEPS = (
    "attract",
    "find by scanline",
    "account page",
    "pay (printer check)",
    "pay page",
    "create payment",
    "poll payment status",
    "approved page",
    "finish visit",
)
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def _app(folder: Path):
    from kiosk import create_app

    app = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "INSTANCE_PATH": str(folder / "instance"),
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "PRINT_IMMEDIATELY": False,
            "LOOKUP_RATE_PER_MINUTE": 1_000_000,
        }
    )
    app.extensions["payoffice.db"].create_all()
    return app


def _seed(app, accounts: int) -> tuple[str, list[str]]:
    """An office, a paired kiosk and ``accounts`` accounts with one open bill each.
    Returns the kiosk's device token and the bills' scanlines."""
    import datetime as dt

    from hardware import scanline
    from kiosk.models import Account, Bill, Office
    from kiosk.stations import add_station, pair

    with app.extensions["payoffice.db"].sessions() as s:
        office = Office(
            code="SA",
            name="Santa Ana Trash & Recycling Payment Office",
            address="1245 W 1st St",
            city_line="Santa Ana, CA 92703",
        )
        s.add(office)
        s.flush()
        _station, code = add_station(s, office, "Bench kiosk", "kiosk")
        _, token = pair(s, code)
        lines = []
        for i in range(accounts):
            number = str(300_000 + i)
            account = Account(
                number=number,
                kind="residential",
                name="MARIA GONZALEZ",
                house_number=100 + i,
                street_name="BRISTOL",
                zip_code="92703",
                pickup_day="tuesday",
                balance_cents=8450,
            )
            s.add(account)
            s.flush()
            bill_number = str(2_611_000_000 + i)
            line = scanline.compose(number, bill_number, 8450)
            s.add(
                Bill(
                    account_id=account.id,
                    number=bill_number,
                    period_start=dt.date(2026, 10, 1),
                    period_end=dt.date(2026, 10, 31),
                    due_date=dt.date(2026, 11, 25),
                    amount_cents=8450,
                    open_cents=8450,
                    scanline=line,
                )
            )
            lines.append(line)
        s.commit()
    return token, lines


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    response = fn()
    return (time.perf_counter() - started) * 1000, response


def _visit(client, line: str) -> dict[str, float]:
    """One customer paying a bill; returns milliseconds per step (and checks each answer)."""
    times: dict[str, float] = {}

    def step(name, fn, expect: int):
        ms, response = _timed(fn)
        if response.status_code != expect:
            raise RuntimeError(f"{name}: HTTP {response.status_code}, expected {expect}")
        times[name] = ms
        return response

    attract = step("attract", lambda: client.get("/kiosk/"), 200)
    token = _CSRF.search(attract.get_data(as_text=True)).group(1)
    form = {"csrf_token": token}
    step("find by scanline", lambda: client.post("/kiosk/scan", data={**form, "code": line}), 302)
    step("account page", lambda: client.get("/kiosk/account"), 200)
    step("pay (printer check)", lambda: client.post("/kiosk/pay/due", data=form), 302)
    page = step("pay page", lambda: client.get("/kiosk/pay"), 200)
    html = page.get_data(as_text=True)
    key = re.search(r'data-key="([0-9a-f]+)"', html).group(1)
    number = re.search(r'data-account="(\d+)"', html).group(1)
    body = {
        "account_number": number,
        "amount_cents": 8450,
        "language": "en",
        "tenders": [{"kind": "card", "amount_cents": 8450}],
    }
    headers = {"Idempotency-Key": key, "X-CSRFToken": token}
    created = step(
        "create payment",
        lambda: client.post("/api/v1/payments", json=body, headers=headers),
        201,
    ).get_json()
    polled = step(
        "poll payment status", lambda: client.get(f"/api/v1/payments/{created['id']}"), 200
    ).get_json()
    if polled["status"] != "succeeded":
        raise RuntimeError(f"payment did not complete: {polled['status']}")
    step("approved page", lambda: client.get(f"/kiosk/paid/{created['id']}"), 200)
    step("finish visit", lambda: client.post("/kiosk/end", data=form), 302)
    times["whole pay path"] = sum(times.values())
    return times


def _hello(n: int) -> list[float]:
    from flask import Flask

    bare = Flask("hello")

    @bare.route("/hello")
    def hello():
        return "hello"

    client = bare.test_client()
    for _ in range(WARMUP):
        client.get("/hello")
    return [_timed(lambda: client.get("/hello"))[0] for _ in range(n)]


def _p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(n: int = FULL_N) -> dict:
    from kiosk.auth import DEVICE_COOKIE

    with tempfile.TemporaryDirectory(prefix="bench-kiosk-") as folder:
        app = _app(Path(folder))
        try:
            token, lines = _seed(app, n + WARMUP)
            client = app.test_client()
            client.set_cookie(DEVICE_COOKIE, token)
            samples: dict[str, list[float]] = {}
            for i, line in enumerate(lines):
                times = _visit(client, line)
                if i < WARMUP:
                    continue
                for name, ms in times.items():
                    samples.setdefault(name, []).append(ms)
            hello = _hello(n * len(STEPS))
        finally:
            app.extensions["payoffice.db"].engine.dispose()
    hello_p50 = statistics.median(hello)
    cases = []
    for name in (*STEPS, "whole pay path"):
        values = samples[name]
        p50, p95 = statistics.median(values), _p(values, 95)
        cases.append(
            {
                "case": name,
                "p50_ms": round(p50, 2),
                "p95_ms": round(p95, 2),
                "ratio_p50_to_hello": round(p50 / hello_p50, 1),
                "under_25ms_p95": None if name == "whole pay path" else p95 < GOAL_MS,
            }
        )
    cases.append(
        {
            "case": "bare Flask hello",
            "p50_ms": round(hello_p50, 3),
            "p95_ms": round(_p(hello, 95), 3),
            "ratio_p50_to_hello": 1.0,
            "under_25ms_p95": None,
        }
    )
    return {
        "name": "kiosk",
        "n": n,
        "database": "sqlite",
        "hello_p50_ms": round(hello_p50, 3),
        "all_steps_under_25ms_p95": all(c["under_25ms_p95"] for c in cases[: len(STEPS)]),
        "cases": cases,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(QUICK_N), indent=2))
