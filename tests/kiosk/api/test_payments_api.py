"""The payments API through the real app: kiosk card payments with the simulated reader,
counter tenders, idempotent replay, duplicates, void and refund, access and CSRF, and
concurrency through a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from kiosk.auth import DEVICE_COOKIE
from kiosk.models import Account, Bill, StaffUser
from kiosk.stations import pair
from payments.audit import AuditEvent
from payments.models import BusinessDay, Payment
from payments.outbox import OutboxMessage
from payments.posting import CIS_PAYMENT_TOPIC
from payments.simulated import set_test_card
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

TOKEN_PAGE = "/pair"  # a public page that carries the CSRF meta tag for any caller


@pytest.fixture
def acct(sessions, office):
    with sessions() as s:
        account = factories.make_account(s, balance_cents=8450)
        bill = factories.make_bill(s, account, 8450)
        s.commit()
        return {"id": account.id, "number": account.number, "bill": bill.number}


def _post(c, url, body=None, key: str | None = "auto", token=None, **headers):
    if key == "auto":
        key = uuid.uuid4().hex
    if key is not None:
        headers["Idempotency-Key"] = key
    headers["X-CSRFToken"] = token or c.csrf
    return c.post(url, json=body, headers=headers)


@pytest.fixture
def kiosk(kiosk_client):
    kiosk_client.csrf = csrf_token(kiosk_client, TOKEN_PAGE)
    return kiosk_client


def _staff_client(app, sessions, office, role):
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id)
        s.commit()
        user_id = user.id
    c = app.test_client()
    assert login(c, user.username).status_code == 302
    c.csrf = csrf_token(c, TOKEN_PAGE)
    c.user_id = user_id
    return c


@pytest.fixture
def cashier(app, sessions, office):
    return _staff_client(app, sessions, office, "cashier")


@pytest.fixture
def supervisor(app, sessions, office):
    return _staff_client(app, sessions, office, "supervisor")


def _count(sessions, model=Payment):
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _kiosk_pay(kiosk, acct, amount=8450, **extra):
    body = {"account_number": acct["number"], "amount_cents": amount, **extra}
    return _post(kiosk, "/api/v1/payments", body)


# -- kiosk card payments -------------------------------------------------------------------


def test_kiosk_card_payment_approved(kiosk, acct, sessions):
    r = _kiosk_pay(kiosk, acct, language="es", channel="counter")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "awaiting_card"
    assert body["channel"] == "kiosk"  # from the device, never from the body
    assert body["tenders"] == [{"kind": "card", "amount_cents": 8450, "reference": None}]
    done = kiosk.get(f"/api/v1/payments/{body['id']}").get_json()
    assert done["status"] == "succeeded"
    assert re.fullmatch(r"SA-\d{8}-0001", done["receipt_number"])
    assert done["card"] == {"brand": "visa", "last4": "4242"}
    assert done["failure"] is None
    with sessions() as s:
        assert s.get(Account, acct["id"]).balance_cents == 0
        assert s.scalars(select(Bill.open_cents)).one() == 0
        topics = s.scalars(select(OutboxMessage.topic)).all()
        assert topics.count(CIS_PAYMENT_TOPIC) == 1


@pytest.mark.parametrize("card", ["card_declined", "insufficient_funds", "expired_card"])
def test_kiosk_card_declined(kiosk, acct, sessions, card):
    with sessions() as s:
        set_test_card(s, f"simulated-{kiosk.station_id}", card)
        s.commit()
    pid = _kiosk_pay(kiosk, acct).get_json()["id"]
    body = kiosk.get(f"/api/v1/payments/{pid}").get_json()
    assert body["status"] == "failed"
    assert body["failure"]["code"] == card and body["failure"]["message"]
    assert body["receipt_number"] is None


def test_kiosk_cancel(kiosk, acct):
    pid = _kiosk_pay(kiosk, acct).get_json()["id"]
    r = _post(kiosk, f"/api/v1/payments/{pid}/cancel")
    assert r.status_code == 200
    assert r.get_json()["status"] == "canceled"
    assert kiosk.get(f"/api/v1/payments/{pid}").get_json()["status"] == "canceled"


def test_kiosk_takes_cards_only_and_sees_only_its_own_payments(kiosk, acct, app, cashier):
    r = _kiosk_pay(kiosk, acct, tenders=[{"kind": "cash", "amount_cents": 8450}])
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "kiosk_card_only"
    body = {
        "account_number": acct["number"],
        "amount_cents": 100,
        "tenders": [{"kind": "cash", "amount_cents": 100}],
    }
    pid = _post(cashier, "/api/v1/payments", body).get_json()["id"]
    assert kiosk.get(f"/api/v1/payments/{pid}").status_code == 404
    assert _post(kiosk, f"/api/v1/payments/{pid}/void").status_code == 403


# -- idempotency and duplicates ------------------------------------------------------------


def test_idempotency_key_is_required_on_every_post(kiosk, acct, sessions, supervisor):
    body = {"account_number": acct["number"], "amount_cents": 100}
    r = _post(kiosk, "/api/v1/payments", body, key=None)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "idempotency_key_required"
    assert _post(kiosk, "/api/v1/payments", body, key="x" * 129).status_code == 400
    assert _count(sessions) == 0
    pid = _kiosk_pay(kiosk, acct).get_json()["id"]
    for path in ("cancel",):
        assert _post(kiosk, f"/api/v1/payments/{pid}/{path}", key=None).status_code == 400
    for path in ("void", "refunds"):
        r = _post(supervisor, f"/api/v1/payments/{pid}/{path}", {"amount_cents": 1}, key=None)
        assert r.status_code == 400


def test_replay_returns_same_payment_and_other_body_conflicts(kiosk, acct, sessions):
    body = {"account_number": acct["number"], "amount_cents": 8450}
    first = _post(kiosk, "/api/v1/payments", body, key="kiosk-key-1")
    again = _post(kiosk, "/api/v1/payments", body, key="kiosk-key-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    other = _post(kiosk, "/api/v1/payments", {**body, "amount_cents": 8000}, key="kiosk-key-1")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    assert _count(sessions) == 1


def test_duplicate_suspected_unless_confirmed(cashier, acct, sessions):
    body = {
        "account_number": acct["number"],
        "amount_cents": 2000,
        "tenders": [{"kind": "cash", "amount_cents": 2000}],
    }
    first = _post(cashier, "/api/v1/payments", body)
    assert first.status_code == 201
    dup = _post(cashier, "/api/v1/payments", body)
    assert dup.status_code == 409
    err = dup.get_json()["error"]
    assert err["code"] == "duplicate_suspected"
    assert err["payment_id"] == first.get_json()["id"]
    assert err["receipt_number"] == first.get_json()["receipt_number"]
    ok = _post(cashier, "/api/v1/payments", {**body, "confirm_duplicate": True})
    assert ok.status_code == 201
    assert _count(sessions) == 2


# -- counter tenders, bad input ------------------------------------------------------------


def test_cashier_split_tender_with_change(cashier, acct, sessions):
    body = {
        "account_number": acct["number"],
        "amount_cents": 8450,
        "bill_numbers": [acct["bill"]],
        "tenders": [
            {"kind": "check", "amount_cents": 5000, "reference": "1234", "bank": "Chase"},
            {"kind": "cash", "amount_cents": 4000},
        ],
        "email": "maria@example.com",
    }
    r = _post(cashier, "/api/v1/payments", body)
    assert r.status_code == 201, r.get_json()
    p = r.get_json()
    assert (p["status"], p["channel"], p["change_cents"]) == ("succeeded", "counter", 550)
    assert p["receipt_number"].endswith("-0001")
    with sessions() as s:
        assert s.get(Payment, p["id"]).staff_user_id == cashier.user_id


BAD_INPUTS = [
    ({"amount_cents": 100}, 400, "bad_account_number"),
    ({"account_number": "999999", "amount_cents": 100}, 404, "account_not_found"),
    ({"amount_cents": 12.5}, 400, "bad_amount_cents"),
    ({"amount_cents": "12.50"}, 400, "bad_amount_cents"),
    ({"amount_cents": True}, 400, "bad_amount_cents"),
    ({"amount_cents": 0}, 400, "amount_not_positive"),
    ({"amount_cents": 2_000_000}, 400, "amount_above_maximum"),
    ({"amount_cents": 100, "tenders": "cash"}, 400, "bad_tenders"),
    ({"amount_cents": 100, "tenders": []}, 400, "bad_tenders"),
    ({"amount_cents": 100, "tenders": [{"kind": "cash"}]}, 400, "bad_amount_cents"),
    ({"amount_cents": 100, "tenders": [{"kind": "gold", "amount_cents": 100}]}, 400, None),
    ({"amount_cents": 100, "tenders": [{"kind": "cash", "amount_cents": 99}]}, 400, None),
    ({"amount_cents": 100, "bill_numbers": "x"}, 400, "bad_bill_numbers"),
    ({"amount_cents": 100, "bill_numbers": ["nope"]}, 404, "bill_not_found"),
    ({"amount_cents": 100, "confirm_duplicate": "yes"}, 400, "bad_confirm_duplicate"),
    ({"amount_cents": 100, "email": 7}, 400, "bad_email"),
    ({"amount_cents": 100, "language": "xx"}, 400, "bad_language"),
]


def test_bad_input_is_refused_and_changes_nothing(cashier, acct, sessions):
    for body, status, code in BAD_INPUTS:
        if "account_number" not in body and code != "bad_account_number":
            body = {"account_number": acct["number"], **body}
        if "tenders" not in body and isinstance(body.get("amount_cents"), int):
            body["tenders"] = [{"kind": "cash", "amount_cents": max(body["amount_cents"], 1)}]
        r = _post(cashier, "/api/v1/payments", body)
        assert r.status_code == status, (body, r.get_json())
        err = r.get_json()["error"]
        assert err["message"]
        if code:
            assert err["code"] == code, (body, err)
    assert _count(sessions) == 0


def test_not_json_is_refused(cashier):
    r = cashier.post(
        "/api/v1/payments",
        data="[1, 2]",
        content_type="application/json",
        headers={"Idempotency-Key": "k", "X-CSRFToken": cashier.csrf},
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "bad_json"


def test_csrf_and_sign_in_are_required(client, cashier, acct):
    body = {"account_number": acct["number"], "amount_cents": 100}
    r = cashier.post("/api/v1/payments", json=body, headers={"Idempotency-Key": "k"})
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "csrf_failed"
    r = client.get("/api/v1/payments/abc")
    assert r.status_code == 401
    assert cashier.get("/api/v1/payments/" + "f" * 32).status_code == 404


# -- void and refund -----------------------------------------------------------------------


def _cash_payment(c, acct, amount=8450):
    body = {
        "account_number": acct["number"],
        "amount_cents": amount,
        "tenders": [{"kind": "cash", "amount_cents": amount}],
    }
    r = _post(c, "/api/v1/payments", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_void_needs_a_supervisor_and_reverses(cashier, supervisor, acct, sessions):
    p = _cash_payment(cashier, acct)
    assert _post(cashier, f"/api/v1/payments/{p['id']}/void").status_code == 403
    r = _post(supervisor, f"/api/v1/payments/{p['id']}/void", {"reason": "wrong account"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "voided" and body["void_reason"] == "wrong account"
    assert body["receipt_number"] == p["receipt_number"]
    with sessions() as s:
        assert s.get(Account, acct["id"]).balance_cents == 8450
        assert s.scalars(select(Bill.open_cents)).one() == 8450
    again = _post(supervisor, f"/api/v1/payments/{p['id']}/void")
    assert again.status_code == 200
    refund = _post(supervisor, f"/api/v1/payments/{p['id']}/refunds", {"amount_cents": 1})
    assert refund.status_code == 409


def test_refund_after_the_day_closed(cashier, supervisor, acct, sessions):
    p = _cash_payment(cashier, acct)
    url = f"/api/v1/payments/{p['id']}/refunds"
    early = _post(supervisor, url, {"amount_cents": 1000})
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "void_instead"
    with sessions() as s:
        pay = s.get(Payment, p["id"])
        s.add(
            BusinessDay(office_id=pay.office_id, business_date=pay.business_date, status="closed")
        )
        s.commit()
    assert _post(cashier, url, {"amount_cents": 1000}).status_code == 403
    r = _post(supervisor, url, {"amount_cents": 1000, "reason": "overpaid"}, key="ref-1")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "partially_refunded"
    assert body["refund"]["kind"] == "cash" and body["refund"]["amount_cents"] == 1000
    too_much = _post(supervisor, url, {"amount_cents": 7451})
    assert too_much.get_json()["error"]["code"] == "refund_exceeds_paid"
    with sessions() as s:
        entries = s.scalar(select(func.count()).select_from(AuditEvent))
        typed = {"username": s.get(StaffUser, supervisor.user_id).username, "password": "x"}
    # Resent from a cashier's screen: the refund stands and is returned; the supervisor is
    # not asked again (the typed password is not even checked) and nothing is audited.
    resent = _post(cashier, url, {"amount_cents": 1000, "supervisor": typed}, key="ref-1")
    assert resent.status_code == 201 and resent.get_json()["refund"] == body["refund"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == entries
    r = _post(supervisor, url, {"amount_cents": 7450})
    assert r.get_json()["status"] == "refunded"
    with sessions() as s:
        assert s.get(Account, acct["id"]).balance_cents == 8450


def test_card_void_through_the_simulated_reader(kiosk, supervisor, acct):
    pid = _kiosk_pay(kiosk, acct).get_json()["id"]
    assert kiosk.get(f"/api/v1/payments/{pid}").get_json()["status"] == "succeeded"
    r = _post(supervisor, f"/api/v1/payments/{pid}/void")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "voided"


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


def _http_staff(base, sessions, office, role="cashier"):
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id)
        s.commit()
    http = requests.Session()
    page = http.get(f"{base}/login", timeout=10).text
    token = _META.search(page).group(1)
    r = http.post(
        f"{base}/login",
        data={"username": user.username, "password": factories.PASSWORD, "csrf_token": token},
        timeout=10,
        allow_redirects=False,
    )
    assert r.status_code == 302
    http.headers["X-CSRFToken"] = _META.search(http.get(f"{base}{TOKEN_PAGE}", timeout=10).text)[1]
    return http


def _http_kiosk(base, sessions, office, name):
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "kiosk", name=name)
        _, token = pair(s, code)
        s.commit()
    http = requests.Session()
    http.cookies.set(DEVICE_COOKIE, token, domain="127.0.0.1")
    http.headers["X-CSRFToken"] = _META.search(http.get(f"{base}{TOKEN_PAGE}", timeout=10).text)[1]
    return http


def _race(n, fn):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_fifty_simultaneous_posts_with_one_key_make_one_payment(
    live_server, sessions, office, acct
):
    http = _http_kiosk(live_server, sessions, office, "Race kiosk")
    body = {"account_number": acct["number"], "amount_cents": 8450}

    def post(_i):
        r = http.post(
            f"{live_server}/api/v1/payments",
            json=body,
            headers={"Idempotency-Key": "one-key-for-all"},
            timeout=60,
        )
        return r.status_code, r.json()

    results = _race(50, post)
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] * 49 + [201], results
    assert len({r[1]["id"] for r in results}) == 1
    assert _count(sessions) == 1
    pid = results[0][1]["id"]
    done = http.get(f"{live_server}/api/v1/payments/{pid}", timeout=10).json()
    assert done["status"] == "succeeded"
    with sessions() as s:
        assert s.get(Account, acct["id"]).balance_cents == 0


@pytest.mark.parametrize("confirm", [False, True])
def test_two_stations_paying_the_same_bill_at_once(live_server, sessions, office, acct, confirm):
    stations = [_http_staff(live_server, sessions, office) for _ in range(2)]
    body = {
        "account_number": acct["number"],
        "amount_cents": 8450,
        "bill_numbers": [acct["bill"]],
        "tenders": [{"kind": "cash", "amount_cents": 8450}],
        "confirm_duplicate": confirm,
    }

    def post(i):
        r = stations[i].post(
            f"{live_server}/api/v1/payments",
            json=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
            timeout=60,
        )
        return r.status_code, r.json()

    results = sorted(_race(2, post), key=lambda r: r[0])
    assert results[0][0] == 201
    assert results[1][0] == 409, results
    expected = "bill_already_paid" if confirm else "duplicate_suspected"
    assert results[1][1]["error"]["code"] in (expected, "bill_already_paid")
    assert results[1][1]["error"]["message"]
    with sessions() as s:
        assert s.scalars(select(Bill.open_cents)).one() == 0
        assert s.get(Account, acct["id"]).balance_cents == 0
        assert s.scalar(select(func.count()).select_from(Payment)) == 1


def test_demo_test_card_control(kiosk, acct, app):
    url = "/api/v1/simulated-reader/test-card"
    current = kiosk.get(url).get_json()
    assert current["card"] == "approve" and "expired_card" in current["cards"]
    assert _post(kiosk, url, {"card": "stolen"}).status_code == 400
    assert _post(kiosk, url, {"card": "expired_card"}, key=None).status_code == 400
    r = _post(kiosk, url, {"card": "expired_card"})
    assert r.status_code == 200 and r.get_json()["card"] == "expired_card"
    pid = _kiosk_pay(kiosk, acct).get_json()["id"]
    assert kiosk.get(f"/api/v1/payments/{pid}").get_json()["failure"]["code"] == "expired_card"
    app.config["CARD_GATEWAY"] = "stripe"
    assert kiosk.get(url).status_code == 404
