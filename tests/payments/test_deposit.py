"""The deposit slip: a closed day with two drawers (cash with change, a drop, checks, money
orders, a void, a short count) -> the deposit's cash equals the drawers' counts less the floats
(plus the drop), by denomination; checks and money orders listed with their totals; a second
person verifies (not the preparer, not a cashier); an amendment is a new, audited version; bad
input changes nothing. Also the finance page: prepare, verify with credentials, the PDF slip."""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from kiosk.models import StaffUser
from payments import audit, days, outbox, service
from payments import deposit as deposits
from payments import drawer as drawers
from payments.audit import AuditEvent
from payments.db import business_date
from payments.models import DENOMINATIONS, CountPhase, DrawerSession
from payments.posting import CIS_TOPICS
from tests import factories
from tests.conftest import csrf_token, login
from tests.payments.conftest import command, tender
from tests.support.pdf import pdf_text

_n = itertools.count(1)

FLOAT_A = {"bill_20": 5, "bill_10": 5, "bill_5": 6, "bill_1": 10, "coin_25": 40}  # $200.00
FLOAT_B = {"bill_20": 5}  # $100.00


def counts_for(cents: int) -> dict[str, int]:
    out = {}
    for name, value in DENOMINATIONS.items():
        pieces, cents = divmod(cents, value)
        if pieces:
            out[name] = pieces
    return out


def plus(*counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for d, n in c.items():
            out[d] = out.get(d, 0) + n
    return out


def staff(session, office, roles: str, **kw) -> StaffUser:
    """Built directly (no sign-in here; hashing is slow on purpose) unless a password is
    wanted, then through the factory."""
    if kw.pop("can_sign_in", False):
        user = factories.make_staff(session, roles, roles=roles.split(","), office_id=office.id)
    else:
        user = StaffUser(
            username=f"dep-{roles.replace(',', '-')}{next(_n)}",
            full_name=f"Dep {roles.title()} {next(_n)}",
            password_hash="!",
            roles=roles,
            office_id=office.id,
        )
        session.add(user)
    session.flush()
    return user


@dataclass
class DepositDay:
    day: object
    drawers: list[DrawerSession]
    finance: StaffUser
    supervisor: StaffUser
    cashiers: list[StaffUser]


def deliver_cis(sessions) -> None:
    outbox.deliver_due(sessions, {t: (lambda m: "ack") for t in CIS_TOPICS}, limit=1000)


def build_deposit_day(session, sessions, world, *, close_day: bool = True) -> DepositDay:
    """Two counter drawers through the real services, closed with blind counts."""
    office = world.office
    finance = staff(session, office, "finance")
    cashiers, opened = [], []
    for name, float_counts in (("Counter A", FLOAT_A), ("Counter B", FLOAT_B)):
        station, _ = factories.make_station(session, office, "counter", name=f"{name} {next(_n)}")
        cashier = staff(session, office, "cashier")
        session.commit()
        drawer, _ = drawers.open_drawer(
            session,
            office_id=office.id,
            station_id=station.id,
            cashier_id=cashier.id,
            counts=float_counts,
            actor=cashier.username,
        )
        session.commit()
        cashiers.append(cashier)
        opened.append((drawer, station, cashier))

    def pay(i, amount, *tenders):
        _, station, cashier = opened[i]
        account = factories.make_account(session, balance_cents=amount)
        factories.make_bill(session, account, amount)
        p = service.create_payment(
            session,
            command(
                world,
                amount,
                *tenders,
                account_id=account.id,
                account_number=account.number,
                station_id=station.id,
                staff_user_id=cashier.id,
                confirm_duplicate=True,
            ),
        ).payment
        session.commit()
        return p

    # Drawer A: $60 paid with $100 (change $40), a check, a money order, cash + check split,
    # and a $50 drop to the safe. Expected cash 200 + 120 - 40 - 50 = $230.
    pay(0, 6_000, tender("cash", 10_000))
    pay(0, 3_000, tender("check", 3_000, "1001", "Wells Fargo"))
    pay(0, 1_500, tender("money_order", 1_500, "MO-77", "USPS"))
    pay(0, 5_000, tender("cash", 2_000), tender("check", 3_000, "5512", "Chase"))
    drawers.record_movement(
        session,
        opened[0][0],
        kind="drop",
        amount_cents=5_000,
        reason="to the safe",
        staff_user_id=cashiers[0].id,
        actor="cashier",
        key=f"drop-{next(_n)}",
    )
    session.commit()
    # Drawer B: exact cash, a money order, and a check payment voided (not in the bag).
    pay(1, 2_500, tender("cash", 2_500))
    pay(1, 4_000, tender("money_order", 4_000, "MO-9", "Western Union"))
    voided = pay(1, 700, tender("check", 700, "333", "BofA"))
    service.void_payment(session, voided, supervisor_id=world.supervisor.id, actor="sup")
    session.commit()

    # Blind counts: A exact ($230, the float's pieces plus $30), B $1 short ($124).
    a, b = opened[0][0], opened[1][0]
    drawers.close_drawer(
        session, a, counts=plus(FLOAT_A, counts_for(3_000)), closed_by_id=a.cashier_id, actor="c"
    )
    drawers.close_drawer(
        session, b, counts=plus(FLOAT_B, counts_for(2_400)), closed_by_id=b.cashier_id, actor="c"
    )
    session.commit()
    day = business_date()
    if close_day:
        deliver_cis(sessions)
        days.close_day(session, office.id, day, finance.username, closed_by_id=finance.id)
        session.commit()
    return DepositDay(day, [a, b], finance, world.supervisor, cashiers)


def _prepare(session, d: DepositDay, office_id, **kw):
    kw.setdefault("bag_number", "B-1001")
    record = deposits.prepare_deposit(
        session,
        office_id,
        d.day,
        prepared_by_id=kw.pop("prepared_by_id", d.finance.id),
        actor=kw.pop("actor", d.finance.username),
        **kw,
    )
    session.commit()
    return record


def test_deposit_is_the_drawer_counts_less_the_floats(session, sessions, world):
    d = build_deposit_day(session, sessions, world)
    record = _prepare(session, d, world.office.id)

    counted = sum(x.counted_cents for x in d.drawers)
    floats = sum(x.float_cents for x in d.drawers)
    assert (counted, floats) == (23_000 + 12_400, 30_000)
    assert record.counted_cash_cents == counted
    assert record.float_retained_cents == floats
    assert record.safe_drops_cents == 5_000
    assert record.cash_cents == counted - floats + 5_000 == 10_400
    # piece for piece: what is deposited is the closing count less the opening float
    closing = plus(*(drawers.counts_of(x, CountPhase.CLOSE) for x in d.drawers))
    opening = plus(*(drawers.counts_of(x, CountPhase.OPEN) for x in d.drawers))
    by_denomination = {c.denomination: c for c in record.cash}
    for name in DENOMINATIONS:
        row = by_denomination.get(name)
        assert (row.counted if row else 0) == closing.get(name, 0)
        assert (row.retained if row else 0) == opening.get(name, 0)
    assert sum(c.deposited_cents for c in record.cash) == counted - floats

    listed = [drawers.recorded_checks(session, x) for x in d.drawers]
    expected_items = sorted(
        (c.kind, c.reference, c.bank, c.amount_cents) for lst in listed for c in lst
    )
    assert sorted((i.kind, i.reference, i.bank, i.amount_cents) for i in record.items) == (
        expected_items
    )
    assert ("check", "333", "BofA", 700) not in expected_items  # voided: gave it back
    assert (record.checks_count, record.checks_cents) == (2, 6_000)
    assert (record.money_orders_count, record.money_orders_cents) == (2, 5_500)
    assert record.total_cents == 10_400 + 6_000 + 5_500
    assert record.status == "prepared" and record.version == 1

    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "deposit.prepared"))
    details = json.loads(event.details)
    assert details["bag_number"] == "B-1001" and details["total_cents"] == record.total_cents
    data = deposits.as_dict(record)
    assert data["cash_cents"] == 10_400 and len(data["items"]) == 4


def test_a_second_person_verifies_never_the_preparer(session, sessions, world):
    d = build_deposit_day(session, sessions, world)
    record = _prepare(session, d, world.office.id)
    for who, code in [
        (d.finance.id, "same_person"),
        (d.cashiers[0].id, "not_allowed_to_verify"),
        (999_999, "not_allowed_to_verify"),
    ]:
        with pytest.raises(deposits.DepositError) as err:
            deposits.verify_deposit(session, record, verified_by_id=who, actor="x")
        assert err.value.code == code
        session.rollback()
    assert session.get(deposits.Deposit, record.id).status == "prepared"

    deposits.verify_deposit(session, record, verified_by_id=d.supervisor.id, actor="sup")
    session.commit()
    assert record.status == "verified" and record.verified_by_id == d.supervisor.id
    assert record.verified_at is not None
    with pytest.raises(deposits.DepositConflict) as err:
        deposits.verify_deposit(session, record, verified_by_id=d.supervisor.id, actor="sup")
    assert err.value.code == "already_verified"
    session.rollback()
    # another finance user may verify too (a supervisor is not required)
    assert "finance" in deposits.VERIFIER_ROLES


def test_amending_makes_a_new_audited_version(session, sessions, world):
    d = build_deposit_day(session, sessions, world)
    first = _prepare(session, d, world.office.id)
    deposits.verify_deposit(session, first, verified_by_id=d.supervisor.id, actor="sup")
    session.commit()
    with pytest.raises(deposits.DepositConflict) as err:
        _prepare(session, d, world.office.id, bag_number="B-1002")
    assert err.value.code == "deposit_exists"
    session.rollback()

    # keep one more $20 bill in the safe this time
    retained = plus(FLOAT_A, FLOAT_B, {"bill_20": 1})
    second = _prepare(
        session,
        d,
        world.office.id,
        bag_number="B-1002",
        amend_reason="bag torn, re-bagged",
        float_retained=retained,
    )
    session.refresh(first)
    assert first.status == "superseded" and first.superseded_at is not None
    assert (second.version, second.status, second.bag_number) == (2, "prepared", "B-1002")
    assert second.cash_cents == first.cash_cents - 2_000
    assert deposits.current_deposit(session, world.office.id, d.day).id == second.id
    assert [v.version for v in deposits.versions(session, world.office.id, d.day)] == [1, 2]
    with pytest.raises(deposits.DepositConflict) as err:
        deposits.verify_deposit(session, first, verified_by_id=d.supervisor.id, actor="sup")
    assert err.value.code == "deposit_superseded"
    session.rollback()
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "deposit.amended"))
    details = json.loads(event.details)
    assert details["replaces_version"] == 1 and details["reason"] == "bag torn, re-bagged"
    assert audit.verify(session).intact


def test_bad_input_is_refused_and_changes_nothing(session, sessions, world):
    d = build_deposit_day(session, sessions, world)
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    cases = [
        ({"bag_number": ""}, "bad_bag_number"),
        ({"bag_number": "B 1; DROP"}, "bad_bag_number"),
        ({"bag_number": "x" * 40}, "bad_bag_number"),
        ({"float_retained": {"bill_3": 1}}, "unknown_denomination"),
        ({"float_retained": {"bill_20": -1}}, "negative_count"),
        ({"float_retained": {"bill_20": "1.5"}}, "bad_count"),
        ({"float_retained": {"bill_100": 1}}, "float_exceeds_count"),
        ({"prepared_by_id": d.cashiers[0].id}, "not_allowed_to_prepare"),
        ({"amend_reason": "x" * 501}, "bad_reason"),
    ]
    for kw, code in cases:
        with pytest.raises(deposits.DepositError) as err:
            _prepare(session, d, world.office.id, **kw)
        assert err.value.code == code, kw
        session.rollback()
    assert session.scalar(select(func.count()).select_from(deposits.Deposit)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_no_deposit_while_a_drawer_is_open_or_the_float_is_not_there(session, sessions, world):
    office = world.office
    finance = staff(session, office, "finance")
    station, _ = factories.make_station(session, office, "counter", name="Open counter")
    cashier = staff(session, office, "cashier")
    session.commit()
    drawer, _ = drawers.open_drawer(
        session,
        office_id=office.id,
        station_id=station.id,
        cashier_id=cashier.id,
        counts={"coin_25": 40, "bill_20": 4},
        actor="c",
    )
    session.commit()
    day = business_date()
    with pytest.raises(deposits.DepositConflict) as err:
        deposits.prepare_deposit(
            session, office.id, day, bag_number="B1", prepared_by_id=finance.id, actor="f"
        )
    assert err.value.code == "drawers_open"
    session.rollback()
    # the quarters went out as change: the float cannot come back piece for piece
    drawers.close_drawer(
        session, drawer, counts={"bill_20": 4, "bill_10": 1}, closed_by_id=cashier.id, actor="c"
    )
    session.commit()
    with pytest.raises(deposits.DepositError) as err:
        deposits.prepare_deposit(
            session, office.id, day, bag_number="B1", prepared_by_id=finance.id, actor="f"
        )
    assert err.value.code == "float_retained_required" and "coin_25" in err.value.message
    session.rollback()
    record = deposits.prepare_deposit(
        session,
        office.id,
        day,
        bag_number="B1",
        prepared_by_id=finance.id,
        actor="f",
        float_retained={"bill_20": 4},
    )
    assert (record.cash_cents, record.float_retained_cents) == (1_000, 8_000)
    with pytest.raises(deposits.DepositConflict) as err:
        deposits.figures(session, office.id, day - __import__("datetime").timedelta(days=1))
    assert err.value.code == "no_drawers"


# -- the finance page --------------------------------------------------------------------------


def test_deposit_page_prepare_verify_and_pdf(app, client, sessions, session, world, tmp_path):
    d = build_deposit_day(session, sessions, world)
    with sessions() as s:
        preparer = factories.make_staff(s, "finance", office_id=world.office.id)
        verifier = factories.make_staff(s, "supervisor", office_id=world.office.id)
        s.commit()
    assert login(client, preparer.username).status_code == 302
    page = client.get(f"/finance/deposit?date={d.day.isoformat()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Prepare the deposit" in html
    assert "$104.00" in html  # the cash to deposit, before anything is stored

    token = csrf_token(client, "/finance/deposit")
    bad = client.post(
        "/finance/deposit",
        data={"csrf_token": token, "date": d.day.isoformat(), "bag_number": "bad bag!"},
    )
    assert bad.status_code == 400 and "bag number" in bad.get_data(as_text=True)
    bad = client.post(
        "/finance/deposit",
        data={"csrf_token": token, "date": "2026-13-01", "bag_number": "B-7"},
    )
    assert bad.status_code == 400
    done = client.post(
        "/finance/deposit",
        data={"csrf_token": token, "date": d.day.isoformat(), "bag_number": "B-7"},
    )
    assert done.status_code == 302
    with sessions() as s:
        record = deposits.current_deposit(s, world.office.id, d.day)
        deposit_id, total = record.id, record.total_cents
    assert total == 21_900

    # the preparer cannot verify as themselves, nor with a wrong password for someone else
    same = client.post(f"/finance/deposit/{deposit_id}/verify", data={"csrf_token": token})
    assert same.status_code == 400 and "cannot also verify" in same.get_data(as_text=True)
    wrong = client.post(
        f"/finance/deposit/{deposit_id}/verify",
        data={"csrf_token": token, "username": verifier.username, "password": "nope"},
    )
    assert wrong.status_code == 401
    ok = client.post(
        f"/finance/deposit/{deposit_id}/verify",
        data={
            "csrf_token": token,
            "username": verifier.username,
            "password": factories.PASSWORD,
        },
    )
    assert ok.status_code == 302
    with sessions() as s:
        record = s.get(deposits.Deposit, deposit_id)
        assert (record.status, record.verified_by_id) == ("verified", verifier.id)
        failed = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "login.failed", AuditEvent.actor == verifier.username
            )
        ).all()
        assert len(failed) == 1  # the wrong password was counted
    html = client.get(f"/finance/deposit?date={d.day.isoformat()}").get_data(as_text=True)
    assert "verified" in html and "B-7" in html

    api = client.get(f"/api/v1/deposits/{d.day.isoformat()}")
    assert api.status_code == 200
    data = api.get_json()
    assert (data["total_cents"], data["cash_cents"], data["status"]) == (21_900, 10_400, "verified")
    assert data["office"] == "SA" and data["versions"][0]["bag_number"] == "B-7"
    missing = client.get("/api/v1/deposits/2020-01-02")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "deposit_not_found"
    assert client.get("/api/v1/deposits/not-a-day").status_code == 400

    pdf = client.get(f"/finance/deposit/{deposit_id}/slip.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert client.get("/finance/deposit/999999/slip.pdf").status_code == 404
    if shutil.which("pdftotext"):
        text = pdf_text(pdf.data, tmp_path)
        for fact in ("B-7", "$219.00", "$104.00", "MO-77", "Wells Fargo", "VERIFIED"):
            assert fact in text, fact
