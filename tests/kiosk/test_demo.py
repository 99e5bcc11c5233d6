"""The demo office: seeded data (on the test database) and ``payoffice demo`` as a real
process serving HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hardware import scanline
from kiosk.config import SETTINGS
from kiosk.demo import (
    COUNTER_STATIONS,
    DEMO_PASSWORDS,
    DEMO_PIN,
    KIOSK_STATION,
    OutboxWorker,
    _account_rows,
    names,
    seed_demo,
    streets,
)
from kiosk.models import Account, Bill, Office, StaffUser, Station
from kiosk.staff import check_secret
from payments.db import make_engine

TODAY = dt.date(2026, 11, 23)


def _snapshot(session: Session) -> list[tuple]:
    accounts = session.execute(
        select(
            Account.number,
            Account.kind,
            Account.name,
            Account.house_number,
            Account.street_dir,
            Account.street_name,
            Account.unit,
            Account.zip_code,
            Account.balance_cents,
            Account.past_due_cents,
        ).order_by(Account.number)
    ).all()
    bills = session.execute(
        select(Bill.number, Bill.amount_cents, Bill.due_date, Bill.scanline).order_by(Bill.number)
    ).all()
    return [tuple(r) for r in accounts] + [tuple(r) for r in bills]


def test_seed_creates_a_believable_mix(session):
    result = seed_demo(session, accounts=500, rng_seed=7, today=TODAY, staff=False)
    session.commit()
    assert result.created and result.accounts == 500

    office = session.scalar(select(Office))
    assert (office.code, office.name) == ("SA", "Santa Ana Trash & Recycling Payment Office")
    accounts = session.scalars(select(Account)).all()
    assert len(accounts) == 500
    kinds = Counter(a.kind for a in accounts)
    assert 350 < kinds["residential"] < 500 and 10 < kinds["commercial"] < 150
    assert {a.zip_code for a in accounts} <= {f"9270{i}" for i in range(1, 8)}
    assert {a.pickup_day for a in accounts} == {
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
    }
    assert {a.street_name for a in accounts} <= {s.name for s in streets()}
    assert len({a.street_name for a in accounts}) > 30
    assert len({a.number for a in accounts}) == 500
    pool = names()
    residents = [a for a in accounts if a.kind == "residential"]
    assert all("gal" in a.services and "bin" not in a.services for a in residents)
    assert all("bin" in a.services for a in accounts if a.kind == "commercial")
    families = Counter(
        group
        for a in residents
        for group in ("hispanic", "vietnamese")
        if a.name.split()[-1] in pool[group]["family"]
    )
    assert families["hispanic"] > 200 and families["vietnamese"] > 40, families

    bills_by_account: dict[int, list[Bill]] = {}
    for bill in session.scalars(select(Bill).order_by(Bill.due_date)):
        bills_by_account.setdefault(bill.account_id, []).append(bill)
        parsed = scanline.parse(bill.scanline)
        account = session.get(Account, bill.account_id)
        assert (parsed.account_number, parsed.bill_number, parsed.amount_cents) == (
            account.number,
            bill.number,
            bill.open_cents,
        )
        assert bill.period_start < bill.period_end < bill.due_date

    states = Counter()
    for a in accounts:
        bills = bills_by_account.get(a.id, [])
        assert a.balance_cents == sum(b.open_cents for b in bills) or a.balance_cents < 0
        if len(bills) == 2:
            states["past_due"] += 1
            assert a.past_due_cents == bills[0].open_cents > 0
            assert bills[0].due_date < TODAY <= bills[1].due_date
        elif len(bills) == 1:
            states["current"] += 1
            assert a.past_due_cents == 0 and bills[0].due_date >= TODAY
        elif a.balance_cents < 0:
            states["credit"] += 1
            assert a.past_due_cents == 0
        else:
            states["zero"] += 1
            assert a.balance_cents == 0
    assert all(states[s] > 5 for s in ("past_due", "current", "credit", "zero")), states
    assert states["current"] > states["past_due"]


def test_seed_adds_demo_staff_and_stations(session):
    seed_demo(session, accounts=5, rng_seed=1, today=TODAY)
    session.commit()
    users = {u.username: u for u in session.scalars(select(StaffUser))}
    assert set(users) == set(DEMO_PASSWORDS)
    assert users["supervisor"].role_set == {"supervisor"}
    assert check_secret(users["cashier"].password_hash, DEMO_PASSWORDS["cashier"])
    assert check_secret(users["cashier"].pin_hash, DEMO_PIN)
    stations = {s.name: s for s in session.scalars(select(Station))}
    assert set(stations) == {KIOSK_STATION, *COUNTER_STATIONS}
    assert stations[KIOSK_STATION].kind == "kiosk"
    for name in COUNTER_STATIONS:
        assert stations[name].kind == "counter"
        assert stations[name].printer_url == "preview://"
        assert stations[name].reader_id.startswith("simulated-")
    assert len({s.reader_id for s in stations.values()}) == len(stations)


def test_seed_is_deterministic_and_runs_once(session, tmp_path):
    seed_demo(session, accounts=200, rng_seed=42, today=TODAY, staff=False)
    session.commit()
    first = _snapshot(session)

    again = seed_demo(session, accounts=200, rng_seed=99, today=TODAY, staff=False)
    session.commit()
    assert not again.created
    assert _snapshot(session) == first
    assert session.scalar(select(func.count()).select_from(Office)) == 1

    # The same seed on another (SQLite) database gives the same accounts and bills.
    import kiosk.models  # noqa: F401
    from payments.db import Base

    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    Base.metadata.create_all(other)
    assert seed_demo(other, accounts=200, rng_seed=42, today=TODAY, staff=False).created
    with Session(other) as s:
        assert _snapshot(s) == first
    other.dispose()
    # ... and another seed different ones.
    rows, _ = _account_rows(random.Random(43), 200, TODAY)
    assert {r["number"] for r in rows} != {r[0] for r in first[:200]}


def test_pair_page_prefills_code_from_link(client):
    html = client.get("/pair?code=ABCD-EFGH").get_data(as_text=True)
    assert 'value="ABCD-EFGH"' in html
    assert "ABCD-EFGH" not in client.get("/pair").get_data(as_text=True)
    assert "&lt;b&gt;" in client.get("/pair?code=<b>").get_data(as_text=True)


# -- ``payoffice demo`` as a real process -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payoffice() -> list[str]:
    script = Path(sys.executable).with_name("payoffice")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from kiosk.cli import main; main()"]


class DemoProcess:
    """``payoffice demo`` with its output collected line by line."""

    def __init__(self, port: int, env: dict[str, str]):
        self.port = port
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [*_payoffice(), "demo", "--port", str(port), "--accounts", "300"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl+C"):
                self.ready.set()
        self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        # A generous guard against a hung start, not a speed requirement.
        assert self.ready.wait(120), self.output
        assert self.proc.poll() is None, self.output
        base = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError("demo never became healthy:\n" + self.output)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def demo_env(tmp_path, pg_cluster):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOFFICE_")}
    env["PAYOFFICE_INSTANCE_PATH"] = str(tmp_path / "instance")
    if pg_cluster is None:
        yield env
        return
    name = f"payoffice_demo_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_cluster.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    env["PAYOFFICE_DATABASE_URL"] = pg_cluster.url(name)
    yield env
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_payoffice_demo_serves_signs_in_pairs_and_restarts(demo_env):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    demo = DemoProcess(port, demo_env)
    try:
        demo.wait_ready()
        out = demo.output
        assert "created demo data in" in out and "300 accounts" in out
        kiosk_url = re.search(rf"kiosk:\s+({re.escape(base)}/pair\?code=(\S+))", out)
        assert kiosk_url, out
        assert f"{base}/counter/" in out and f"{base}/finance/" in out
        for username, password in DEMO_PASSWORDS.items():
            assert re.search(rf"{username}\s+password {re.escape(password)}\b", out), out
        worker = re.search(r"outbox worker: `payoffice worker`, pid (\d+)", out)

        staff = requests.Session()
        token = _csrf(staff.get(f"{base}/login", timeout=10).text)
        r = staff.post(
            f"{base}/login",
            data={
                "username": "cashier",
                "password": DEMO_PASSWORDS["cashier"],
                "csrf_token": token,
            },
            timeout=10,
        )
        assert r.status_code == 200 and r.url == f"{base}/counter/", r.text[:500]

        device = requests.Session()
        page = device.get(kiosk_url.group(1), timeout=10)
        assert f'value="{kiosk_url.group(2)}"' in page.text
        r = device.post(
            f"{base}/pair",
            data={"code": kiosk_url.group(2), "csrf_token": _csrf(page.text)},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 302 and r.headers["Location"].endswith("/kiosk/"), r.text[:500]
        assert "payoffice_device" in device.cookies
        assert device.get(f"{base}/kiosk/", timeout=10).status_code == 200
    finally:
        code = demo.stop()
    assert code == 0, demo.output
    assert "demo stopped" in demo.output
    if worker:  # the worker child stops with the demo
        assert _gone(int(worker.group(1)))

    again = DemoProcess(port, demo_env)
    try:
        again.wait_ready()
        assert "reusing demo data in" in again.output
        assert "created demo data" not in again.output
        if "PAYOFFICE_DATABASE_URL" not in demo_env:
            assert f"reusing demo data in {demo_env['PAYOFFICE_INSTANCE_PATH']}" in again.output
        # a fresh kiosk code at each start
        assert f"code={kiosk_url.group(2)}" not in again.output
    finally:
        assert again.stop() == 0, again.output


def test_outbox_worker_falls_back_to_a_thread_when_the_command_fails(app):
    # PAYOFFICE_ENV=bogus makes the real `payoffice worker` exit with a configuration error.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOFFICE_")}
    env["PAYOFFICE_ENV"] = "bogus"
    worker = OutboxWorker(app, env)
    worker.start()
    try:
        assert worker.proc.wait(timeout=60) != 0
        for _ in range(600):  # the watcher thread starts the fallback right after the exit
            if worker.thread is not None:
                break
            time.sleep(0.05)
        assert worker.thread is not None and worker.thread.is_alive()
    finally:
        worker.stop()
    assert not worker.thread.is_alive()


def test_configuration_doc_lists_every_setting():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in [*SETTINGS, "PAYOFFICE_INSTANCE_PATH"] if f"`{name}`" not in doc]
    assert not missing, f"document these in docs/configuration.md: {missing}"


def _clean_env(**extra: str) -> dict[str, str | None]:
    """CliRunner env: unset every PAYOFFICE_* variable, then set ``extra``."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PAYOFFICE_")}
    env.update(extra)
    return env


def test_demo_refuses_production(tmp_path):
    from click.testing import CliRunner

    from kiosk.demo import demo_command

    env = _clean_env(
        PAYOFFICE_ENV="production",
        PAYOFFICE_SECRET_KEY="s" * 48,
        PAYOFFICE_INSTANCE_PATH=str(tmp_path),
    )
    result = CliRunner().invoke(demo_command, ["--port", str(_free_port())], env=env)
    assert result.exit_code == 1
    assert "refuses to run with PAYOFFICE_ENV=production" in result.output
    assert not (tmp_path / "payoffice.db").exists()


def test_demo_reports_a_busy_port(tmp_path):
    from click.testing import CliRunner

    from kiosk.demo import demo_command

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = _clean_env(PAYOFFICE_INSTANCE_PATH=str(tmp_path))
        result = CliRunner().invoke(demo_command, ["--port", str(port)], env=env)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another with --port" in result.output
