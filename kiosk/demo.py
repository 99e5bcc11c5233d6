"""A complete demo office: believable Santa Ana accounts and bills, demo staff and stations
(``seed_demo``), and the ``payoffice demo`` command that migrates, seeds, starts the outbox
worker and serves the app on 127.0.0.1."""

from __future__ import annotations

import calendar
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hardware import scanline
from kiosk.models import Account, Bill, Office, StaffUser, Station
from kiosk.staff import create_user, hash_secret
from kiosk.stations import add_station, issue_pairing_code
from payments import audit
from payments.db import business_date, utcnow

OFFICE_NAME = "Santa Ana Trash & Recycling Payment Office"
OFFICE_ADDRESS = "1245 W 1st St"
OFFICE_CITY_LINE = "Santa Ana, CA 92703"
OFFICE_PHONE = "(714) 555-0142"

KIOSK_STATION = "Lobby kiosk"
COUNTER_STATIONS = ("Counter 1", "Counter 2")
DEMO_PRINTER_URL = "preview://"
DEMO_READER_PREFIX = "simulated"  # each station gets its own simulated reader
DEMO_PIN = "1234"
# username, full name, role. The password of each is DEMO_PASSWORDS[username].
DEMO_STAFF = (
    ("cashier", "Rosa Delgado", "cashier"),
    ("supervisor", "Minh Tran", "supervisor"),
    ("finance", "Linda Pham", "finance"),
    ("admin", "David Ortiz", "admin"),
)
DEMO_PASSWORDS = {username: f"{username}-santa-ana" for username, _, _ in DEMO_STAFF}
DEFAULT_RNG_SEED = 2026

PICKUP_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
# Monthly residential rate by trash cart size (gallons); recycling and organics included.
TRASH_CART_CENTS = {32: 2650, 64: 3150, 96: 3650}
EXTRA_TRASH_CART_CENTS = 1500
# Commercial bins: monthly rate per weekly pickup, by size in cubic yards.
BIN_PICKUP_CENTS = {2: 9500, 3: 12500, 4: 15000, 6: 21000}
RECYCLING_BIN_SHARE = 0.6  # recycling bins cost 60 % of trash bins
ORGANICS_CART_PICKUP_CENTS = 4500

# Share of accounts in each balance state (the rest: current, one open bill).
SHARE_COMMERCIAL = 0.10
SHARE_PAST_DUE = 0.12
SHARE_CREDIT = 0.05
SHARE_ZERO = 0.13


@dataclass(frozen=True)
class SeedResult:
    created: bool
    office_code: str
    accounts: int = 0
    bills: int = 0


@dataclass(frozen=True)
class Street:
    name: str
    suffix: str | None
    zips: dict[str | None, tuple[str, ...]]  # direction (None: none) -> zip codes
    low: int
    high: int
    arterial: bool


@cache
def streets() -> tuple[Street, ...]:
    text = resources.files("kiosk").joinpath("data/santa_ana_streets.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    out = []
    for row in rows:
        zips: dict[str | None, tuple[str, ...]] = {}
        for part in row["zips"].split(";"):
            direction, codes = part.split("=")
            zips[None if direction == "*" else direction] = tuple(codes.split())
        out.append(
            Street(
                name=row["name"],
                suffix=row["suffix"] or None,
                zips=zips,
                low=int(row["low"]),
                high=int(row["high"]),
                arterial=row["arterial"] == "1",
            )
        )
    return tuple(out)


@cache
def names() -> dict[str, Any]:
    text = resources.files("kiosk").joinpath("data/santa_ana_names.json").read_text("utf-8")
    return json.loads(text)


# -- seeding --------------------------------------------------------------------------------


def seed_demo(
    session_or_engine: Session | Engine,
    accounts: int = 20_000,
    rng_seed: int = DEFAULT_RNG_SEED,
    *,
    office_code: str = "SA",
    today: dt.date | None = None,
    staff: bool = True,
) -> SeedResult:
    """Fill an empty database with a demo office. Does nothing if any office exists.

    Given an engine it commits; given a session the caller commits. ``staff=False`` leaves
    out the demo staff (their password hashing is the slow part).
    """
    if isinstance(session_or_engine, Engine):
        with Session(session_or_engine, expire_on_commit=False) as session:
            result = seed_demo(
                session, accounts, rng_seed, office_code=office_code, today=today, staff=staff
            )
            session.commit()
            return result
    session = session_or_engine
    if session.scalar(select(func.count()).select_from(Office)):
        return SeedResult(created=False, office_code=office_code)
    if accounts < 0:
        raise ValueError("accounts must not be negative")
    rng = random.Random(rng_seed)
    today = today or business_date()

    office = Office(
        code=office_code,
        name=OFFICE_NAME,
        address=OFFICE_ADDRESS,
        city_line=OFFICE_CITY_LINE,
        phone=OFFICE_PHONE,
    )
    session.add(office)
    session.flush()
    pin_hash = hash_secret(DEMO_PIN) if staff else None  # one hash: the PIN is the same
    for username, full_name, role in DEMO_STAFF if staff else ():
        user = create_user(
            session,
            username,
            full_name,
            DEMO_PASSWORDS[username],
            [role],
            office_id=office.id,
            actor="demo",
        )
        user.pin_hash = pin_hash
    # Every station prints receipt previews and has a simulated card reader.
    for name, kind in [(KIOSK_STATION, "kiosk"), *((c, "counter") for c in COUNTER_STATIONS)]:
        add_station(
            session,
            office,
            name,
            kind,
            printer_url=DEMO_PRINTER_URL,
            reader_id=f"{DEMO_READER_PREFIX}-{name.lower().replace(' ', '-')}",
            actor="demo",
        )

    account_rows, plans = _account_rows(rng, accounts, today)
    _insert_many(session, Account.__table__, account_rows)
    ids = dict(session.execute(select(Account.number, Account.id)).tuples().all())
    bill_rows = _bill_rows(rng, plans, ids, today)
    _insert_many(session, Bill.__table__, bill_rows)
    audit.record(
        session,
        "demo.seeded",
        actor="demo",
        entity="office",
        entity_id=office.id,
        office_id=office.id,
        details={"accounts": len(account_rows), "bills": len(bill_rows), "rng_seed": rng_seed},
    )
    session.flush()
    return SeedResult(
        created=True, office_code=office_code, accounts=len(account_rows), bills=len(bill_rows)
    )


def _insert_many(session: Session, table, rows: list[dict[str, Any]]) -> None:
    """One Core executemany (the ORM bulk path splits rows by which values are None, and a
    multi-row VALUES statement costs more to compile than it saves)."""
    if rows:
        session.execute(insert(table), rows)


@dataclass(frozen=True)
class _BillPlan:
    """What an account owes: the monthly charge and how many bills are still open."""

    number: str
    monthly_cents: int
    open_bills: int  # 0, 1 (current) or 2 (one past due)
    due_offset_days: int  # due date of the newest bill, relative to today


def _account_rows(
    rng: random.Random, count: int, today: dt.date
) -> tuple[list[dict[str, Any]], list[_BillPlan]]:
    pool = names()
    all_streets = streets()
    arterials = [s for s in all_streets if s.arterial]
    numbers = rng.sample(range(10_000_000, 100_000_000), count)
    used_addresses: set[tuple] = set()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    plans: list[_BillPlan] = []
    for number in numbers:
        commercial = rng.random() < SHARE_COMMERCIAL
        street = rng.choice(arterials if commercial else all_streets)
        direction = rng.choice(list(street.zips))
        for attempt in itertools.count():
            house = rng.randint(street.low, street.high)
            unit = None
            if attempt > 20:  # a crowded street: the address becomes a large building
                unit = f"APT {rng.randint(1, 999)}"
            elif not commercial and rng.random() < 0.08:
                unit = (
                    f"APT {rng.randint(1, 40)}"
                    if rng.random() < 0.7
                    else f"UNIT {'ABCD'[rng.randrange(4)]}"
                )
            key = (house, direction, street.name, unit)
            if key not in used_addresses:
                used_addresses.add(key)
                break
        if commercial:
            name = _business_name(rng, pool, street)
            services, monthly = _commercial_services(rng)
        else:
            name = _person_name(rng, pool)
            services, monthly = _residential_services(rng)
        roll = rng.random()
        if roll < SHARE_PAST_DUE:
            state = "past_due"
        elif roll < SHARE_PAST_DUE + SHARE_CREDIT:
            state = "credit"
        elif roll < SHARE_PAST_DUE + SHARE_CREDIT + SHARE_ZERO:
            state = "zero"
        else:
            state = "current"
        open_bills = {"past_due": 2, "current": 1}.get(state, 0)
        plan = _BillPlan(str(number), monthly, open_bills, rng.randint(2, 27))
        if state == "credit":
            balance = -rng.choice((500, 1000, 1500, 2500, monthly, monthly + 700))
        else:
            balance = monthly * open_bills
        last_paid_days = rng.randint(40, 75) if state == "past_due" else rng.randint(3, 35)
        email = None
        if rng.random() < 0.35:
            local = name.lower().replace("&", "and").replace(" ", ".")
            local = "".join(ch for ch in local if ch.isascii() and (ch.isalnum() or ch == "."))
            email = f"{local}{rng.randint(1, 99)}@example.com"
        rows.append(
            {
                "number": str(number),
                "kind": "commercial" if commercial else "residential",
                "name": name,
                "house_number": house,
                "street_dir": direction,
                "street_name": street.name,
                "street_suffix": street.suffix,
                "unit": unit,
                "city": "SANTA ANA",
                "zip_code": rng.choice(street.zips[direction]),
                "phone": f"(714) 555-{rng.randint(0, 9999):04d}" if rng.random() < 0.6 else None,
                "email": email,
                "pickup_day": rng.choice(PICKUP_DAYS),
                "services": services,
                "balance_cents": balance,
                "past_due_cents": monthly if state == "past_due" else 0,
                "last_payment_cents": monthly if state != "credit" else monthly - balance,
                "last_payment_date": today - dt.timedelta(days=last_paid_days),
                "cis_updated_at": now,
            }
        )
        plans.append(plan)
    return rows, plans


def _bill_rows(
    rng: random.Random, plans: list[_BillPlan], ids: dict[str, int], today: dt.date
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    serial = 0
    for plan in plans:
        newest_due = today + dt.timedelta(days=plan.due_offset_days)
        # Oldest first: a past-due bill is due a month before the current one (so before today).
        for months_back in range(plan.open_bills - 1, -1, -1):
            due = newest_due - dt.timedelta(days=30 * months_back)
            period_end = due - dt.timedelta(days=25)
            period_start = _month_before(period_end) + dt.timedelta(days=1)
            serial += 1
            number = f"{period_end:%y%m}{serial:06d}"
            rows.append(
                {
                    "account_id": ids[plan.number],
                    "number": number,
                    "period_start": period_start,
                    "period_end": period_end,
                    "due_date": due,
                    "amount_cents": plan.monthly_cents,
                    "open_cents": plan.monthly_cents,
                    "scanline": scanline.compose(plan.number, number, plan.monthly_cents),
                }
            )
    return rows


def _month_before(day: dt.date) -> dt.date:
    """The same day one month earlier (the last day of that month when it is shorter)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def _person_name(rng: random.Random, pool: dict[str, Any]) -> str:
    roll = rng.random()
    group = pool["hispanic"] if roll < 0.62 else pool["vietnamese"] if roll < 0.8 else pool["other"]
    parts = [rng.choice(group["given"])]
    if rng.random() < 0.3:
        parts.append(rng.choice(group["middle"]))
    parts.append(rng.choice(group["family"]))
    if group is pool["hispanic"] and rng.random() < 0.15:
        parts.append(rng.choice(group["family"]))  # second surname
    return " ".join(parts)


def _business_name(rng: random.Random, pool: dict[str, Any], street: Street) -> str:
    biz = pool["business"]
    family = rng.choice(pool["hispanic"]["family"] + pool["vietnamese"]["family"])
    return rng.choice(biz["patterns"]).format(
        es=rng.choice(biz["es"]),
        vi=rng.choice(biz["vi"]),
        trade=rng.choice(biz["trade"]),
        family=family,
        street=street.name,
    )


def _residential_services(rng: random.Random) -> tuple[str, int]:
    trash = rng.choices((32, 64, 96), weights=(2, 3, 5))[0]
    recycling = rng.choice((64, 96))
    organics = rng.choice((64, 96))
    parts = [f"trash {trash} gal", f"recycling {recycling} gal", f"organics {organics} gal"]
    monthly = TRASH_CART_CENTS[trash]
    if rng.random() < 0.07:
        parts.append("extra trash 96 gal")
        monthly += EXTRA_TRASH_CART_CENTS
    return "; ".join(parts), monthly


def _commercial_services(rng: random.Random) -> tuple[str, int]:
    size = rng.choice(tuple(BIN_PICKUP_CENTS))
    pickups = rng.choices((1, 2, 3), weights=(5, 3, 1))[0]
    recycling_size = rng.choice((2, 3))
    parts = [f"trash bin {size} yd x{pickups}/wk", f"recycling bin {recycling_size} yd x1/wk"]
    monthly = BIN_PICKUP_CENTS[size] * pickups
    monthly += int(BIN_PICKUP_CENTS[recycling_size] * RECYCLING_BIN_SHARE)
    if rng.random() < 0.5:
        parts.append("organics cart 64 gal x1/wk")
        monthly += ORGANICS_CART_PICKUP_CENTS
    return "; ".join(parts), monthly


# -- the ``payoffice demo`` command ----------------------------------------------------------


class _Stop(Exception):
    """Raised in the main thread by SIGTERM so the server loop unwinds and cleans up."""


@dataclass
class _Pairing:
    station: str
    kind: str
    code: str


def issue_demo_pairing_codes(session: Session, office: Office, minutes: int) -> list[_Pairing]:
    """A fresh code for the lobby kiosk (every start) and for counters not yet paired."""
    out = []
    for station in session.scalars(
        select(Station)
        .where(Station.office_id == office.id, Station.active.is_(True))
        .order_by(Station.id)
    ):
        wanted = station.name == KIOSK_STATION or (
            station.kind == "counter" and station.device_token_hash is None
        )
        if wanted:
            code = issue_pairing_code(session, station, minutes, actor="demo")
            out.append(_Pairing(station.name, station.kind, code))
    return out


def _payoffice_argv(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("payoffice")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from kiosk.cli import main; main()", *args]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the worker gets SIGTERM if the demo dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class OutboxWorker:
    """``payoffice worker`` as a child process; if it cannot run, a thread in this process."""

    def __init__(self, app, env: dict[str, str]):
        self.app = app
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> str:
        try:
            self.proc = subprocess.Popen(
                _payoffice_argv("worker"),
                env=self.env,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                start_new_session=True,  # Ctrl+C reaches the demo, which then stops the worker
            )
        except OSError as exc:
            self._start_thread(f"could not start `payoffice worker` ({exc})")
            return "outbox worker: in-process thread"
        self._watch = threading.Thread(target=self._watch_child, daemon=True)
        self._watch.start()
        return f"outbox worker: `payoffice worker`, pid {self.proc.pid}"

    def _watch_child(self) -> None:
        code = self.proc.wait()
        if not self._stop.is_set():
            self._start_thread(f"`payoffice worker` exited with code {code}")

    def _start_thread(self, why: str) -> None:
        click.echo(f"{why}; delivering the outbox in this process instead", err=True)
        from kiosk import db
        from kiosk.worker import build_handlers, run_worker

        def run() -> None:
            with self.app.app_context():
                try:
                    handlers = build_handlers(self.app.config)
                except ValueError as exc:
                    click.echo(f"outbox worker not started: {exc}", err=True)
                    return
                interval = float(self.app.config.get("WORKER_INTERVAL_SECONDS") or 5)
                run_worker(db.database().sessions, handlers, interval=interval, stop=self._stop)

        self.thread = threading.Thread(target=run, name="outbox-worker", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.thread is not None:
            self.thread.join(timeout=10)


def _public_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104


@click.command("demo")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--accounts",
    type=click.IntRange(0, 200_000),
    default=20_000,
    show_default=True,
    help="Demo accounts to create when the database is empty.",
)
@click.option("--seed", "rng_seed", type=int, default=DEFAULT_RNG_SEED, show_default=True)
def demo_command(port: int, host: str, accounts: int, rng_seed: int) -> None:
    """Start a complete demo office: database, demo data, outbox worker and web server."""
    from werkzeug.serving import make_server

    from kiosk import create_app
    from kiosk.config import ConfigError
    from kiosk.migrate import upgrade

    base = f"http://{_public_host(host)}:{port}"
    overrides = {} if os.environ.get("PAYOFFICE_BASE_URL") else {"BASE_URL": base}
    try:
        app = create_app(overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if app.config["ENV_NAME"] == "production":
        raise click.ClickException(
            "payoffice demo seeds known passwords; it refuses to run with PAYOFFICE_ENV=production"
        )
    try:
        server = make_server(host, port, app, threaded=True)
    except (OSError, SystemExit) as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc}); choose another with --port"
        ) from exc

    database = app.extensions["payoffice.db"]
    engine = database.engine
    url = engine.url
    where = app.instance_path if url.get_backend_name() == "sqlite" else url.render_as_string()
    worker = None

    def _on_term(_signum, _frame):
        raise _Stop

    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        upgrade(engine)
        with database.sessions() as session:
            started = time.monotonic()
            result = seed_demo(session, accounts, rng_seed, office_code=app.config["OFFICE_CODE"])
            if result.created:
                session.commit()
                click.echo(
                    f"created demo data in {where}: {result.accounts} accounts, "
                    f"{result.bills} bills ({time.monotonic() - started:.1f} s)"
                )
            else:
                click.echo(f"reusing demo data in {where} (--accounts applies to an empty one)")
            office = session.scalar(select(Office).where(Office.code == app.config["OFFICE_CODE"]))
            if office is None:
                raise click.ClickException(
                    f"the database has offices but none with code {app.config['OFFICE_CODE']!r}"
                )
            pairings = issue_demo_pairing_codes(session, office, app.config["PAIRING_CODE_MINUTES"])
            staff = session.scalars(
                select(StaffUser)
                .where(StaffUser.username.in_(list(DEMO_PASSWORDS)), StaffUser.active.is_(True))
                .order_by(StaffUser.id)
            ).all()
            session.commit()

        env = dict(os.environ, PAYOFFICE_INSTANCE_PATH=app.instance_path)
        if not os.environ.get("PAYOFFICE_DATABASE_URL"):
            env["PAYOFFICE_DATABASE_URL"] = url.render_as_string(hide_password=False)
        worker = OutboxWorker(app, env)
        worker_line = worker.start()
        _print_banner(base, app, pairings, staff, worker_line)
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass  # Ctrl+C or SIGTERM, also while seeding: an unfinished seed is rolled back
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        if worker is not None:
            worker.stop()
        engine.dispose()
    click.echo("demo stopped")


def _print_banner(base: str, app, pairings: list[_Pairing], staff, worker_line: str) -> None:
    minutes = app.config["PAIRING_CODE_MINUTES"]
    lines = ["", "Santa Ana payment office demo is running", ""]
    for p in pairings:
        if p.kind == "kiosk":
            lines.append(f"  kiosk:    {base}/pair?code={p.code}")
            lines.append(
                f"            open once in the kiosk browser (code valid {minutes} min; "
                "a new one at each start)"
            )
    lines.append(f"  counter:  {base}/counter/   (sign in as cashier or supervisor)")
    lines.append(f"  finance:  {base}/finance/   (sign in as finance)")
    lines.append(f"  admin:    {base}/admin/     (sign in as admin)")
    for p in pairings:
        if p.kind == "counter":
            lines.append(f"  pair a browser as {p.station}: {base}/pair?code={p.code}")
    lines.append("")
    lines.append(f"  staff sign-in at {base}/login  (PIN {DEMO_PIN} for every demo user)")
    for user in staff:
        lines.append(
            f"    {user.username:<11} password {DEMO_PASSWORDS[user.username]:<22} {user.full_name}"
        )
    lines += ["", f"  {worker_line}", f"  instance: {app.instance_path}", ""]
    lines.append("Press Ctrl+C to stop.")
    click.echo("\n".join(lines))
