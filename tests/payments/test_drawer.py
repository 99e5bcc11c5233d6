"""Cash drawer sessions in the domain: float, cash payments with change, drops and pickups,
blind close exact/over/short, tolerance and supervisor approval, in-flight refusal, reopen,
voids and cash refunds, bad input, and a property: expected = float + net cash - drops."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kiosk.models import StaffUser
from payments import drawer as drawers
from payments import service
from payments.audit import AuditEvent
from payments.db import utcnow
from payments.models import (
    BusinessDay,
    CountPhase,
    DrawerCount,
    DrawerMovement,
    DrawerSession,
    Payment,
)
from tests import factories
from tests.payments.conftest import command, tender

_names = itertools.count(1)

# $200.00: 5 x $20, 5 x $10, 6 x $5, 10 x $1, 40 quarters
FLOAT = {"bill_20": 5, "bill_10": 5, "bill_5": 6, "bill_1": 10, "coin_25": 40}


def counts_for(cents: int) -> dict[str, int]:
    """A count by denomination worth exactly ``cents`` (largest pieces first)."""
    out = {}
    for name, value in drawers.DENOMINATIONS.items():
        pieces, cents = divmod(cents, value)
        if pieces:
            out[name] = pieces
    return out


def _staff(session, office, role: str) -> StaffUser:
    # Built directly: nobody signs in here, and password hashing is slow on purpose.
    user = StaffUser(
        username=f"drawer-{role}{next(_names)}",
        full_name=f"Test {role}",
        password_hash="!",
        roles=role,
        office_id=office.id,
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def counter(session, world):
    station, _ = factories.make_station(session, world.office, "counter", name=f"C{next(_names)}")
    cashier = _staff(session, world.office, "cashier")
    session.commit()
    return station, cashier


def _open(session, world, counter, counts=FLOAT, **kw) -> DrawerSession:
    station, cashier = counter
    drawer, replayed = drawers.open_drawer(
        session,
        office_id=world.office.id,
        station_id=station.id,
        cashier_id=cashier.id,
        counts=counts,
        actor=cashier.username,
        **kw,
    )
    assert not replayed
    session.commit()
    return drawer


def _pay(session, world, counter, amount, *tenders, **kw) -> Payment:
    station, cashier = counter
    account = factories.make_account(session, balance_cents=amount)
    factories.make_bill(session, account, amount)
    cmd = command(
        world,
        amount,
        *tenders,
        account_id=account.id,
        account_number=account.number,
        station_id=station.id,
        staff_user_id=cashier.id,
        **kw,
    )
    payment = service.create_payment(session, cmd).payment
    session.commit()
    return payment


def _close(session, drawer, counts, **kw):
    kw.setdefault("closed_by_id", drawer.cashier_id)
    kw.setdefault("actor", "cashier")
    result, _ = drawers.close_drawer(session, drawer, counts=counts, **kw)
    session.commit()
    return result


def _audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


def test_counts_are_valued_in_one_place():
    assert drawers.count_value(FLOAT) == 20_000
    assert drawers.count_value(drawers.parse_counts({"bill_1": "3", "coin_100": 2})) == 500
    assert drawers.count_value(counts_for(12_345)) == 12_345


def test_a_day_float_cash_with_change_drop_and_exact_close(session, world, counter):
    drawer = _open(session, world, counter)
    assert drawer.float_cents == 20_000
    assert drawers.counts_of(drawer, CountPhase.OPEN)["coin_25"] == 40

    # $60.00 paid with $100.00: $40.00 change
    cash = _pay(session, world, counter, 6_000, tender("cash", 10_000))
    assert cash.change_cents == 4_000 and cash.drawer_session_id == drawer.id
    # split: $20.00 cash + $30.00 check; a $15.00 money order
    split = _pay(session, world, counter, 5_000, tender("cash", 2_000), tender("check", 3_000))
    _pay(session, world, counter, 1_500, tender("money_order", 1_500, "MO-77"))
    # a card payment at the same station brings no cash
    card = _pay(session, world, counter, 2_500, tender("card", 2_500))
    assert card.drawer_session_id is None
    service.cancel_payment(session, card, None, actor="cashier")
    session.commit()

    drawers.record_movement(
        session,
        drawer,
        kind="drop",
        amount_cents=10_000,
        reason="to the safe",
        staff_user_id=drawer.cashier_id,
        actor="cashier",
        key="drop-1",
    )
    session.commit()

    summary = drawers.cash_summary(session, drawer)
    assert summary.cash_in_cents == 12_000
    assert summary.change_out_cents == 4_000
    assert summary.drops_cents == 10_000
    expected = 20_000 + 12_000 - 4_000 - 10_000
    assert summary.expected_cents == expected == 18_000

    closed = _close(
        session, drawer, counts_for(expected), checks_count=2, checks_cents=4_500, key="close-1"
    )
    assert closed.status == "closed"
    assert (closed.counted_cents, closed.expected_cents, closed.over_short_cents) == (
        18_000,
        18_000,
        0,
    )
    assert (closed.checks_expected_count, closed.checks_expected_cents) == (2, 4_500)
    assert (closed.checks_counted_count, closed.checks_counted_cents) == (2, 4_500)
    assert not closed.approval_required
    listed = drawers.recorded_checks(session, closed)
    assert [(c.kind, c.reference, c.amount_cents) for c in listed] == [
        ("check", "1001", 3_000),
        ("money_order", "MO-77", 1_500),
    ]
    assert listed[0].payment_id == split.id
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity == "drawer").order_by(AuditEvent.seq)
    ).all()
    assert actions == ["drawer.opened", "drawer.drop", "drawer.closed"]
    # a replay of the close answers the same, without a second close
    again, replayed = drawers.close_drawer(
        session, closed, counts={"bill_1": 1}, closed_by_id=None, actor="x", key="close-1"
    )
    assert replayed and again.counted_cents == 18_000


def test_over_within_tolerance_needs_no_supervisor(session, world, counter):
    drawer = _open(session, world, counter)
    closed = _close(session, drawer, counts_for(20_300), tolerance_cents=500)
    assert closed.over_short_cents == 300
    assert not closed.approval_required and not drawers.awaiting_approval(closed)


def test_short_beyond_tolerance_waits_for_a_supervisor(session, world, counter):
    drawer = _open(session, world, counter)
    _pay(session, world, counter, 4_000, tender("cash", 4_000))
    closed = _close(session, drawer, counts_for(23_000), tolerance_cents=500)
    assert closed.over_short_cents == -1_000
    assert closed.status == "closed" and drawers.awaiting_approval(closed)

    with pytest.raises(drawers.DrawerError) as no_one:
        drawers.approve_drawer(session, closed, supervisor_id=None, actor="x")
    assert no_one.value.code == "supervisor_required"
    with pytest.raises(drawers.DrawerError) as self_approval:
        drawers.approve_drawer(session, closed, supervisor_id=closed.cashier_id, actor="x")
    assert self_approval.value.code == "not_a_supervisor"
    drawers.approve_drawer(session, closed, supervisor_id=world.supervisor.id, actor="sup")
    session.commit()
    assert closed.approved_by_id == world.supervisor.id and not drawers.awaiting_approval(closed)


def test_supervisor_at_the_close_approves_an_overage_at_once(session, world, counter):
    drawer = _open(session, world, counter)
    closed = _close(session, drawer, counts_for(21_000), supervisor_id=world.supervisor.id)
    assert closed.over_short_cents == 1_000
    assert closed.approval_required and closed.approved_by_id == world.supervisor.id


def test_a_supervisor_cannot_approve_their_own_drawer(session, world):
    station, _ = factories.make_station(session, world.office, "counter", name="Sup counter")
    session.commit()
    drawer = _open(session, world, (station, world.supervisor))
    with pytest.raises(drawers.DrawerError) as exc:
        _close(session, drawer, counts_for(25_000), supervisor_id=world.supervisor.id)
    assert exc.value.code == "supervisor_is_cashier"


def test_no_close_with_a_payment_in_flight(session, world, counter):
    drawer = _open(session, world, counter)
    card = _pay(session, world, counter, 2_500, tender("cash", 500), tender("card", 2_000))
    assert card.status == "created" and card.drawer_session_id == drawer.id
    before = _audit_count(session)
    with pytest.raises(drawers.DrawerConflict) as exc:
        drawers.close_drawer(
            session, drawer, counts=FLOAT, closed_by_id=drawer.cashier_id, actor="c"
        )
    session.rollback()
    assert exc.value.code == "payment_in_flight" and exc.value.extra["payment_ids"] == [card.id]
    assert "expected" not in str(exc.value.extra)
    session.refresh(drawer)
    assert drawer.status == "open" and drawer.counted_cents is None
    assert _audit_count(session) == before
    service.cancel_payment(session, card, None, actor="cashier")
    session.commit()
    # the canceled split payment brought no cash
    assert _close(session, drawer, FLOAT).over_short_cents == 0


BAD_COUNTS = [
    ({"bill_20": -1}, "negative_count"),
    ({"bill_20": "five"}, "bad_count"),
    ({"bill_20": "5a"}, "bad_count"),
    ({"bill_20": 2.5}, "bad_count"),
    ({"bill_20": True}, "bad_count"),
    ({"bill_20": None}, "bad_count"),
    ({"bill_3": 1}, "unknown_denomination"),
    ({"20": 1}, "unknown_denomination"),
    ({"bill_20": 10_001}, "count_too_large"),
    (["bill_20", 5], "bad_counts"),
    (None, "bad_counts"),
    ("200.00", "bad_counts"),
]


def test_bad_counts_are_refused_and_change_nothing(session, world, counter):
    before = _audit_count(session)
    for counts, code in BAD_COUNTS:
        with pytest.raises(drawers.DrawerError) as exc:
            _open(session, world, counter, counts=counts)
        session.rollback()
        assert (exc.value.code, exc.value.status) == (code, 400), counts
        assert exc.value.message
    assert session.scalar(select(func.count()).select_from(DrawerSession)) == 0
    assert _audit_count(session) == before

    drawer = _open(session, world, counter)
    for counts, code in BAD_COUNTS:
        with pytest.raises(drawers.DrawerError) as at_close:
            _close(session, drawer, counts)
        session.rollback()
        assert at_close.value.code == code, counts
    session.refresh(drawer)
    assert drawer.status == "open"
    assert (
        session.scalar(
            select(func.count()).select_from(DrawerCount).where(DrawerCount.phase == "close")
        )
        == 0
    )


@pytest.mark.parametrize(
    ("field", "value"), [("checks_count", -1), ("checks_cents", "12.50"), ("checks_count", 1.0)]
)
def test_bad_check_counts_are_refused(session, world, counter, field, value):
    drawer = _open(session, world, counter)
    with pytest.raises(drawers.DrawerError) as exc:
        _close(session, drawer, FLOAT, **{field: value})
    session.rollback()
    assert exc.value.code == f"bad_{field}"
    session.refresh(drawer)
    assert drawer.status == "open"


def test_one_open_drawer_per_station(session, world, counter):
    first = _open(session, world, counter)
    with pytest.raises(drawers.DrawerConflict) as exc:
        _open(session, world, counter)
    session.rollback()
    assert exc.value.code == "drawer_already_open" and exc.value.extra["drawer_id"] == first.id
    other, _ = factories.make_station(session, world.office, "counter", name="Other counter")
    session.commit()
    assert _open(session, world, (other, counter[1])).id != first.id
    kiosk, _ = factories.make_station(session, world.office, "kiosk", name="Lobby")
    session.commit()
    with pytest.raises(drawers.DrawerError) as not_counter:
        _open(session, world, (kiosk, counter[1]))
    assert not_counter.value.code == "not_a_counter"


def test_open_replays_by_key(session, world, counter):
    drawer = _open(session, world, counter, key="open-1")
    again, replayed = drawers.open_drawer(
        session,
        office_id=world.office.id,
        station_id=counter[0].id,
        cashier_id=counter[1].id,
        counts=FLOAT,
        actor="c",
        key="open-1",
    )
    assert replayed and again.id == drawer.id
    with pytest.raises(drawers.DrawerConflict) as exc:
        drawers.open_drawer(
            session,
            office_id=world.office.id,
            station_id=counter[0].id,
            cashier_id=counter[1].id,
            counts={"bill_1": 1},
            actor="c",
            key="open-1",
        )
    assert exc.value.code == "idempotency_conflict"


def test_bad_movements_are_refused(session, world, counter):
    drawer = _open(session, world, counter)
    for kind, amount, reason, code in [
        ("withdrawal", 100, "x", "bad_kind"),
        ("drop", 0, "x", "bad_amount"),
        ("drop", -5, "x", "bad_amount"),
        ("drop", "10", "x", "bad_amount"),
        ("drop", 100, "  ", "reason_required"),
        ("drop", 100, None, "reason_required"),
        ("drop", 100, "x" * 501, "reason_too_long"),
    ]:
        with pytest.raises(drawers.DrawerError) as exc:
            drawers.record_movement(
                session,
                drawer,
                kind=kind,
                amount_cents=amount,
                reason=reason,
                staff_user_id=None,
                actor="c",
                key="m-1",
            )
        session.rollback()
        assert exc.value.code == code
    assert session.scalar(select(func.count()).select_from(DrawerMovement)) == 0


def test_movements_pickup_and_paid_in_and_closed_drawer(session, world, counter):
    drawer = _open(session, world, counter)
    for key, kind, amount in [("a", "paid_in", 5_000), ("b", "pickup", 3_000), ("c", "drop", 100)]:
        drawers.record_movement(
            session,
            drawer,
            kind=kind,
            amount_cents=amount,
            reason="change run",
            staff_user_id=None,
            actor="sup",
            key=key,
        )
    session.commit()
    assert drawers.expected_cash(session, drawer) == 20_000 + 5_000 - 3_000 - 100
    _close(session, drawer, counts_for(21_900))
    with pytest.raises(drawers.DrawerConflict) as exc:
        drawers.record_movement(
            session,
            drawer,
            kind="drop",
            amount_cents=100,
            reason="late",
            staff_user_id=None,
            actor="c",
            key="d",
        )
    assert exc.value.code == "drawer_closed"


def test_reopen_needs_a_supervisor_and_a_recount(session, world, counter):
    drawer = _open(session, world, counter)
    _close(session, drawer, counts_for(19_000))
    assert drawer.over_short_cents == -1_000
    with pytest.raises(drawers.DrawerError) as exc:
        drawers.reopen_drawer(session, drawer, supervisor_id=None, actor="c", reason="recount")
    assert exc.value.code == "supervisor_required"
    with pytest.raises(drawers.DrawerError) as cashier:
        drawers.reopen_drawer(
            session, drawer, supervisor_id=drawer.cashier_id, actor="c", reason="recount"
        )
    assert cashier.value.code == "not_a_supervisor"
    drawers.reopen_drawer(
        session, drawer, supervisor_id=world.supervisor.id, actor="sup", reason="recount"
    )
    session.commit()
    assert drawer.status == "open" and drawer.counted_cents is None
    assert drawers.counts_of(drawer, CountPhase.CLOSE) == dict.fromkeys(drawers.DENOMINATIONS, 0)
    again = _close(session, drawer, FLOAT)
    assert again.over_short_cents == 0
    reopened = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "drawer.reopened")
    ).one()
    assert '"over_short_cents": -1000' in reopened.details


def test_void_gives_the_cash_back_and_needs_an_open_drawer(session, world, counter):
    drawer = _open(session, world, counter)
    kept = _pay(session, world, counter, 3_000, tender("cash", 5_000))
    voided = _pay(session, world, counter, 1_000, tender("cash", 1_000))
    service.void_payment(session, voided, supervisor_id=world.supervisor.id, actor="sup")
    session.commit()
    assert drawers.expected_cash(session, drawer) == 20_000 + 3_000
    _close(session, drawer, counts_for(23_000))
    with pytest.raises(service.Conflict) as exc:
        service.void_payment(session, kept, supervisor_id=world.supervisor.id, actor="sup")
    assert exc.value.code == "drawer_closed"


def test_cash_refund_comes_out_of_the_stations_drawer(session, world, counter):
    yesterday = utcnow() - dt.timedelta(days=1)
    old = service.create_payment(
        session, command(world, 6_000, tender("cash", 6_000)), now=yesterday
    ).payment
    session.commit()
    with pytest.raises(service.Conflict) as no_drawer:
        service.refund_payment(
            session,
            old,
            amount_cents=1_000,
            supervisor_id=world.supervisor.id,
            refund_key="r-0",
            actor="sup",
            kind="cash",
            station_id=counter[0].id,
        )
    session.rollback()
    assert no_drawer.value.code == "no_open_drawer"
    drawer = _open(session, world, counter)
    refund = service.refund_payment(
        session,
        old,
        amount_cents=1_500,
        supervisor_id=world.supervisor.id,
        refund_key="r-1",
        actor="sup",
        kind="cash",
        station_id=counter[0].id,
    )
    session.commit()
    assert refund.drawer_session_id == drawer.id
    assert drawers.expected_cash(session, drawer) == 20_000 - 1_500


def test_drawer_changes_refused_on_a_closed_day(session, world, counter):
    drawer = _open(session, world, counter)
    session.add(
        BusinessDay(office_id=world.office.id, business_date=drawer.business_date, status="closed")
    )
    session.commit()
    with pytest.raises(Exception) as exc:
        drawers.record_movement(
            session,
            drawer,
            kind="drop",
            amount_cents=100,
            reason="x",
            staff_user_id=None,
            actor="c",
            key="k",
        )
    assert getattr(exc.value, "code", None) == "day_closed"


# -- property ----------------------------------------------------------------------------------

_event = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 20_000), st.integers(0, 5_000)),  # amount, extra
    st.tuples(st.just("split"), st.integers(2, 20_000), st.integers(0, 3_000)),
    st.tuples(st.just("void_last"), st.just(0), st.just(0)),
    st.tuples(st.just("drop"), st.integers(1, 30_000), st.just(0)),
    st.tuples(st.just("pickup"), st.integers(1, 30_000), st.just(0)),
    st.tuples(st.just("paid_in"), st.integers(1, 30_000), st.just(0)),
    st.tuples(st.just("refund"), st.integers(1, 2_000), st.just(0)),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    float_counts=st.dictionaries(
        st.sampled_from(list(drawers.DENOMINATIONS)), st.integers(0, 40), max_size=5
    ),
    events=st.lists(_event, max_size=8),
)
def test_expected_is_float_plus_net_cash_minus_drops(session, world, float_counts, events):
    """Whatever happens, expected = float + cash kept from the drawer's payments - cash
    refunds + paid-ins - drops - pickups, computed here independently from what was done."""
    station, _ = factories.make_station(session, world.office, "counter", name=f"P{next(_names)}")
    cashier = _staff(session, world.office, "cashier")
    session.commit()
    counter = (station, cashier)
    drawer = _open(session, world, counter, counts=float_counts)
    model = sum(drawers.DENOMINATIONS[d] * n for d, n in float_counts.items())
    old = service.create_payment(
        session,
        command(world, 10_000, tender("cash", 10_000), confirm_duplicate=True),
        now=utcnow() - dt.timedelta(days=1),
    ).payment
    session.commit()
    refunded = 0
    paid: list[tuple[Payment, int]] = []
    for i, (kind, amount, extra) in enumerate(events):
        if kind == "pay":
            p = _pay(session, world, counter, amount, tender("cash", amount + extra))
            paid.append((p, amount))
            model += amount
        elif kind == "split":
            cash = amount // 2
            p = _pay(
                session,
                world,
                counter,
                amount,
                tender("check", amount - cash),
                tender("cash", cash + extra),
            )
            paid.append((p, cash))
            model += cash
        elif kind == "void_last" and paid:
            p, kept = paid.pop()
            service.void_payment(session, p, supervisor_id=world.supervisor.id, actor="sup")
            session.commit()
            model -= kept
        elif kind in ("drop", "pickup", "paid_in"):
            drawers.record_movement(
                session,
                drawer,
                kind=kind,
                amount_cents=amount,
                reason="property",
                staff_user_id=None,
                actor="c",
                key=f"{drawer.id}-{i}",
            )
            session.commit()
            model += amount if kind == "paid_in" else -amount
        elif kind == "refund" and refunded + amount <= 10_000:
            service.refund_payment(
                session,
                old,
                amount_cents=amount,
                supervisor_id=world.supervisor.id,
                refund_key=f"{drawer.id}-r{i}",
                actor="sup",
                kind="cash",
                station_id=station.id,
            )
            session.commit()
            refunded += amount
            model -= amount
    assert drawers.expected_cash(session, drawer) == model
    closed = _close(session, drawer, counts_for(max(model, 0)))
    assert closed.expected_cents == model
    assert closed.over_short_cents == max(model, 0) - model
