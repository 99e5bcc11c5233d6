"""The cash drawer API through the real app: open at a paired counter station, cash payments
with change, drops, a blind close (no expected figure in any answer before the count), over
and short with the tolerance and a supervisor's typed credentials, in-flight refusal, who sees
which drawer, bad input, idempotent replays and reopen."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from kiosk.auth import DEVICE_COOKIE
from kiosk.config import REPO_ROOT, ConfigError, load
from kiosk.models import Account, StaffUser
from kiosk.stations import pair
from payments import service
from payments.models import DrawerMovement, DrawerSession, Payment
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

TOKEN_PAGE = "/pair"
FLOAT = {"bill_20": 5, "bill_10": 5, "bill_5": 6, "bill_1": 10, "coin_25": 40}  # $200.00


def _post(c, url, body=None, key: str | None = "auto"):
    headers = {"X-CSRFToken": c.csrf}
    if key is not None:
        headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    return c.post(url, json=body, headers=headers)


def _blind(value) -> bool:
    """True when no key anywhere in a JSON answer reveals the expected figure."""
    if isinstance(value, dict):
        return all(
            "expected" not in k and "over_short" not in k and k != "cash_summary" and _blind(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_blind(v) for v in value)
    return True


def _client(app, sessions, office, role, station_name=None):
    """A signed-in staff client; with ``station_name`` its browser is a paired counter."""
    c = app.test_client()
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id)
        station_id = None
        if station_name:
            station, code = factories.make_station(s, s.merge(office), "counter", name=station_name)
            _, token = pair(s, code)
            station_id = station.id
        s.commit()
        c.user_id, c.username = user.id, user.username
    if station_name:
        c.set_cookie(DEVICE_COOKIE, token)
    assert login(c, c.username).status_code == 302
    c.csrf = csrf_token(c, TOKEN_PAGE)
    c.station_id = station_id
    return c


@pytest.fixture
def cashier(app, sessions, office):
    return _client(app, sessions, office, "cashier", "Counter 1")


@pytest.fixture
def supervisor(app, sessions, office):
    return _client(app, sessions, office, "supervisor")


def _account(sessions, balance=50_000) -> str:
    with sessions() as s:
        account = factories.make_account(s, balance_cents=balance)
        factories.make_bill(s, account, balance)
        s.commit()
        return account.number


def _open(c, counts=FLOAT, **kw):
    r = _post(c, "/api/v1/drawers", {"counts": counts, **kw})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _cash_payment(c, sessions, amount, tendered):
    r = _post(
        c,
        "/api/v1/payments",
        {
            "account_number": _account(sessions, amount),
            "amount_cents": amount,
            "tenders": [{"kind": "cash", "amount_cents": tendered}],
        },
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_a_cashiers_day_blind_close_short_and_supervisor_approval(
    cashier, supervisor, sessions, app
):
    opened = _open(cashier)
    assert opened["float_cents"] == 20_000 and opened["status"] == "open"
    assert opened["float_counts"]["coin_25"] == 40
    assert _blind(opened)
    drawer_id = opened["id"]

    paid = _cash_payment(cashier, sessions, 6_000, 10_000)
    assert paid["change_cents"] == 4_000
    with sessions() as s:
        assert s.get(Payment, paid["id"]).drawer_session_id == drawer_id

    drop = _post(
        cashier,
        f"/api/v1/drawers/{drawer_id}/movements",
        {"kind": "drop", "amount_cents": 5_000, "reason": "to the safe"},
    )
    assert drop.status_code == 201 and drop.get_json()["kind"] == "drop"

    # The cashier never sees the expected figure of their open drawer...
    mine = cashier.get(f"/api/v1/drawers/{drawer_id}")
    assert mine.status_code == 200 and _blind(mine.get_json())
    # ...a supervisor does: 200.00 + 100.00 - 40.00 change - 50.00 drop
    seen = supervisor.get(f"/api/v1/drawers/{drawer_id}").get_json()
    assert seen["expected_cents"] == 21_000
    assert seen["cash_summary"]["change_out_cents"] == 4_000

    # Blind count $200.00: $10.00 short, beyond the $5.00 tolerance.
    closed = _post(
        cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": {"bill_20": 10}}
    ).get_json()
    assert closed["status"] == "closed"
    close = closed["close"]
    assert (close["counted_cents"], close["expected_cents"], close["over_short_cents"]) == (
        20_000,
        21_000,
        -1_000,
    )
    assert close["approval_required"] and close["awaiting_approval"]

    # The supervisor types their credentials on the cashier's screen.
    with sessions() as s:
        sup_name = s.get(StaffUser, supervisor.user_id).username
    approved = _post(
        cashier,
        f"/api/v1/drawers/{drawer_id}/approve",
        {"supervisor": {"username": sup_name, "password": factories.PASSWORD}},
    )
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["close"]["approved_by_id"] == supervisor.user_id
    assert not approved.get_json()["close"]["awaiting_approval"]


def test_short_over_and_exact_within_tolerance_need_no_approval(cashier, sessions):
    drawer_id = _open(cashier)["id"]
    _cash_payment(cashier, sessions, 1_250, 2_000)  # 12.50 in, 7.50 change: expected 212.50
    short = {"bill_20": 10, "bill_10": 1, "bill_1": 2, "coin_25": 1}  # 212.25
    r = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": short})
    close = r.get_json()["close"]
    assert r.status_code == 200
    assert close["over_short_cents"] == -25 and not close["approval_required"]

    second = _open(cashier)["id"]
    r = _post(cashier, f"/api/v1/drawers/{second}/close", {"counts": {**FLOAT, "coin_100": 3}})
    assert r.get_json()["close"]["over_short_cents"] == 300
    assert not r.get_json()["close"]["awaiting_approval"]

    third = _open(cashier)["id"]
    r = _post(cashier, f"/api/v1/drawers/{third}/close", {"counts": FLOAT})
    assert r.get_json()["close"]["over_short_cents"] == 0


def test_tolerance_comes_from_the_setting(cashier, app):
    app.config["DRAWER_TOLERANCE_CENTS"] = 0
    drawer_id = _open(cashier)["id"]
    r = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": {**FLOAT, "coin_1": 1}})
    close = r.get_json()["close"]
    assert close["over_short_cents"] == 1 and close["awaiting_approval"]


def test_setting_is_documented_and_refuses_negative(tmp_path):
    assert load({}, {"INSTANCE_PATH": str(tmp_path)})["DRAWER_TOLERANCE_CENTS"] == 500
    env = {"PAYOFFICE_DRAWER_TOLERANCE_CENTS": "-1"}
    with pytest.raises(ConfigError):
        load(env, {"INSTANCE_PATH": str(tmp_path)})
    assert "PAYOFFICE_DRAWER_TOLERANCE_CENTS" in (REPO_ROOT / "docs/configuration.md").read_text()


def test_no_close_with_a_payment_in_flight(cashier, sessions, office):
    drawer_id = _open(cashier)["id"]
    number = _account(sessions, 3_000)
    with sessions() as s:
        account = s.scalars(select(Account).where(Account.number == number)).one()
        pending = service.create_payment(
            s,
            service.PaymentCommand(
                office_id=office.id,
                account_id=account.id,
                account_number=number,
                channel="counter",
                amount_cents=3_000,
                tenders=(service.TenderInput("card", 3_000),),
                idempotency_key="in-flight-1",
                station_id=cashier.station_id,
            ),
        ).payment
        s.commit()
        pending_id = pending.id
    r = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT})
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"]["code"] == "payment_in_flight" and _blind(body)
    assert body["error"]["payment_ids"] == [pending_id]
    assert cashier.get(f"/api/v1/drawers/{drawer_id}").get_json()["status"] == "open"


def test_bad_counts_are_refused_with_a_message(cashier, sessions):
    cases = [
        ({"bill_20": "ten"}, "bad_count"),
        ({"bill_20": -2}, "negative_count"),
        ({"bill_7": 1}, "unknown_denomination"),
        ({"bill_20": 1.5}, "bad_count"),
        ("200", "bad_counts"),
        (None, "bad_counts"),
    ]
    for counts, code in cases:
        r = _post(cashier, "/api/v1/drawers", {"counts": counts})
        assert r.status_code == 400
        assert r.get_json()["error"]["code"] == code and r.get_json()["error"]["message"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DrawerSession)) == 0
    drawer_id = _open(cashier)["id"]
    for counts, code in cases:
        r = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": counts})
        assert r.status_code == 400 and r.get_json()["error"]["code"] == code
        assert _blind(r.get_json())
    assert cashier.get(f"/api/v1/drawers/{drawer_id}").get_json()["status"] == "open"


def test_bad_requests(cashier):
    assert _post(cashier, "/api/v1/drawers", {"counts": FLOAT}, key=None).status_code == 400
    r = cashier.post(
        "/api/v1/drawers",
        data="[1]",
        content_type="application/json",
        headers={"X-CSRFToken": cashier.csrf, "Idempotency-Key": "k"},
    )
    assert r.get_json()["error"]["code"] == "bad_json"
    drawer_id = _open(cashier)["id"]
    for body, code in [
        ({"kind": "drop", "amount_cents": "ten", "reason": "x"}, "bad_amount"),
        ({"kind": "drop", "amount_cents": 100}, "reason_required"),
        ({"kind": "steal", "amount_cents": 100, "reason": "x"}, "bad_kind"),
    ]:
        r = _post(cashier, f"/api/v1/drawers/{drawer_id}/movements", body)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == code
    assert cashier.get("/api/v1/drawers/999999").status_code == 404


def test_replays_by_idempotency_key(cashier, sessions):
    first = _post(cashier, "/api/v1/drawers", {"counts": FLOAT}, key="open-A")
    again = _post(cashier, "/api/v1/drawers", {"counts": FLOAT}, key="open-A")
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"]
    second = _post(cashier, "/api/v1/drawers", {"counts": FLOAT})
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "drawer_already_open"

    drawer_id = first.get_json()["id"]
    body = {"kind": "pickup", "amount_cents": 2_000, "reason": "excess cash"}
    one = _post(cashier, f"/api/v1/drawers/{drawer_id}/movements", body, key="mv-1")
    two = _post(cashier, f"/api/v1/drawers/{drawer_id}/movements", body, key="mv-1")
    assert (one.status_code, two.status_code) == (201, 200)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DrawerMovement)) == 1

    closed = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT}, key="cl-1")
    replay = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT}, key="cl-1")
    assert closed.status_code == replay.status_code == 200
    assert replay.get_json()["close"] == closed.get_json()["close"]
    late = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "drawer_closed"


def test_who_sees_which_drawer(app, sessions, office, cashier, supervisor):
    drawer_id = _open(cashier)["id"]
    other = _client(app, sessions, office, "cashier", "Counter 2")
    finance = _client(app, sessions, office, "finance")
    assert other.get(f"/api/v1/drawers/{drawer_id}").status_code == 404
    r = _post(other, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT})
    assert r.status_code == 404
    seen = finance.get(f"/api/v1/drawers/{drawer_id}").get_json()
    assert seen["expected_cents"] == 20_000
    assert _post(finance, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT}).status_code == (
        403
    )
    # a second office's supervisor sees nothing of this office
    with sessions() as s:
        office2 = factories.make_office(s, code="NB", name="North office")
        s.commit()
    outsider = _client(app, sessions, office2, "supervisor")
    assert outsider.get(f"/api/v1/drawers/{drawer_id}").status_code == 404


def test_wrong_supervisor_credentials_are_counted_and_refused(cashier, supervisor, sessions):
    drawer_id = _open(cashier)["id"]
    with sessions() as s:
        sup_name = s.get(StaffUser, supervisor.user_id).username
    r = _post(
        cashier,
        f"/api/v1/drawers/{drawer_id}/close",
        {"counts": {"bill_1": 1}, "supervisor": {"username": sup_name, "password": "wrong"}},
    )
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "supervisor_rejected"
    assert _blind(r.get_json())
    with sessions() as s:
        assert s.get(StaffUser, supervisor.user_id).failed_logins == 1
        assert s.get(DrawerSession, drawer_id).status == "open"
    # a cashier's own credentials are no supervisor's
    r = _post(
        cashier,
        f"/api/v1/drawers/{drawer_id}/close",
        {"counts": FLOAT, "supervisor": {"username": cashier.username, "password": "x" * 3}},
    )
    assert r.status_code == 403


def test_reopen_needs_a_supervisor(cashier, supervisor):
    drawer_id = _open(cashier)["id"]
    _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": {"bill_20": 9}})
    r = _post(cashier, f"/api/v1/drawers/{drawer_id}/reopen", {"reason": "recount"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "supervisor_required"
    r = _post(supervisor, f"/api/v1/drawers/{drawer_id}/reopen", {"reason": "recount"})
    assert r.status_code == 200 and r.get_json()["status"] == "open"
    # reopened: blind again for its cashier
    assert _blind(cashier.get(f"/api/v1/drawers/{drawer_id}").get_json())
    r = _post(cashier, f"/api/v1/drawers/{drawer_id}/close", {"counts": FLOAT})
    assert r.get_json()["close"]["over_short_cents"] == 0


def test_current_drawer_of_the_station(cashier):
    r = cashier.get("/api/v1/drawers/current")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "no_open_drawer"
    drawer_id = _open(cashier)["id"]
    r = cashier.get("/api/v1/drawers/current")
    assert r.status_code == 200 and r.get_json()["id"] == drawer_id and _blind(r.get_json())


# -- concurrency through a real server -----------------------------------------------------


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


_META = re.compile(r'name="csrf-token" content="([^"]+)"')


def test_simultaneous_opens_at_one_station_make_one_drawer(live_server, sessions, office):
    with sessions() as s:
        user = factories.make_staff(s, "cashier", office_id=office.id)
        station, code = factories.make_station(s, s.merge(office), "counter", name="Race counter")
        _, token = pair(s, code)
        s.commit()
        username = user.username
    http = requests.Session()
    http.cookies.set(DEVICE_COOKIE, token, domain="127.0.0.1")
    page = http.get(f"{live_server}/login", timeout=10).text
    r = http.post(
        f"{live_server}/login",
        data={
            "username": username,
            "password": factories.PASSWORD,
            "csrf_token": _META.search(page)[1],
        },
        timeout=10,
        allow_redirects=False,
    )
    assert r.status_code == 302
    http.headers["X-CSRFToken"] = _META.search(
        http.get(f"{live_server}{TOKEN_PAGE}", timeout=10).text
    )[1]

    n = 8
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = http.post(
                f"{live_server}/api/v1/drawers",
                json={"counts": FLOAT},
                headers={"Idempotency-Key": f"race-{i}"},
                timeout=60,
            ).status_code
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * (n - 1), results
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DrawerSession)) == 1


def test_a_cash_refund_at_the_counter_leaves_that_stations_drawer(app, sessions, office, cashier):
    import datetime as dt

    from payments.models import Payment, Refund

    _open(cashier)
    paid = _cash_payment(cashier, sessions, 4_000, 4_000)
    with sessions() as s:  # the payment belongs to an earlier business day
        payment = s.get(Payment, paid["id"])
        payment.business_date = payment.business_date - dt.timedelta(days=3)
        s.commit()
    supervisor_at_counter = _client(app, sessions, office, "supervisor", "Counter 2")
    refused = _post(
        supervisor_at_counter,
        f"/api/v1/payments/{paid['id']}/refunds",
        {"amount_cents": 1_500, "kind": "cash", "reason": "billed twice"},
    )
    assert refused.status_code == 409, refused.get_json()  # no open drawer at Counter 2 yet
    assert refused.get_json()["error"]["code"] == "no_open_drawer"
    drawer = _open(supervisor_at_counter)
    r = _post(
        supervisor_at_counter,
        f"/api/v1/payments/{paid['id']}/refunds",
        {"amount_cents": 1_500, "kind": "cash", "reason": "billed twice"},
    )
    assert r.status_code == 201, r.get_json()
    with sessions() as s:
        (refund,) = s.query(Refund).filter_by(payment_id=paid["id"]).all()
        assert refund.drawer_session_id == drawer["id"]
