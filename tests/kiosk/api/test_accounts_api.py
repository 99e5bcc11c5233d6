"""GET /api/v1/accounts and /api/v1/accounts/{number}: access, masking, errors, rate limit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from hardware import scanline
from kiosk import create_app
from kiosk.auth import DEVICE_COOKIE
from kiosk.models import RateLimitBucket
from kiosk.stations import pair
from payments.db import utcnow
from tests import factories
from tests.conftest import login


@pytest.fixture
def accounts(sessions):
    with sessions() as s:
        maria = factories.make_account(
            s,
            number="100200",
            name="MARIA GONZALEZ",
            house_number=1234,
            phone="7145550142",
            email="maria@example.com",
            past_due_cents=4000,
            balance_cents=8450,
            last_payment_cents=5000,
            last_payment_date=dt.date(2026, 10, 20),
        )
        factories.make_bill(s, maria, 4000, number="2610000001", due_date=dt.date(2026, 10, 25))
        factories.make_bill(s, maria, 4450, number="2611000001", due_date=dt.date(2026, 11, 25))
        factories.make_bill(s, maria, 3000, open_cents=0, due_date=dt.date(2026, 9, 25))
        factories.make_account(s, number="100201", name="TRAN VAN AN", house_number=1236)
        s.commit()


def _error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def test_kiosk_search_by_address_is_masked(kiosk_client, accounts):
    response = kiosk_client.get("/api/v1/accounts?q=1234 n bristol st")
    assert response.status_code == 200
    body = response.get_json()
    assert body["kind"] == "address" and body["masked"] is True
    assert body["accounts"] == [
        {
            "number": "100200",
            "name": "M*** G***",
            "service_address": "1234 N BRISTOL ST",
            "pickup_day": "tuesday",
        }
    ]
    assert "MARIA" not in response.get_data(as_text=True)


def test_kiosk_search_by_street_lists_both(kiosk_client, accounts):
    body = kiosk_client.get("/api/v1/accounts?q=bristol&limit=1").get_json()
    assert [a["number"] for a in body["accounts"]] == ["100200"]
    assert body["truncated"] is True


def test_search_by_scanline_returns_the_bill(kiosk_client, accounts):
    digits = scanline.compose("100200", "2611000001", 4450)
    body = kiosk_client.get(f"/api/v1/accounts?q={digits}").get_json()
    assert body["kind"] == "scanline"
    assert body["accounts"][0]["number"] == "100200"
    assert body["bill"] == {"number": "2611000001", "amount_cents": 4450}


def test_unknown_number_is_an_empty_list(kiosk_client, accounts):
    body = kiosk_client.get("/api/v1/accounts?q=999999").get_json()
    assert body["kind"] == "number" and body["accounts"] == []


def test_account_detail_for_kiosk(kiosk_client, accounts):
    response = kiosk_client.get("/api/v1/accounts/100200")
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "M*** G***"
    assert body["balance_cents"] == 8450
    assert body["past_due_cents"] == 4000
    assert body["due_date"] == "2026-11-25"
    assert body["pickup_day"] == "tuesday"
    assert body["last_payment"] == {"amount_cents": 5000, "date": "2026-10-20"}
    assert body["open_bills"] == [
        {
            "number": "2610000001",
            "due_date": "2026-10-25",
            "amount_cents": 4000,
            "open_cents": 4000,
        },
        {
            "number": "2611000001",
            "due_date": "2026-11-25",
            "amount_cents": 4450,
            "open_cents": 4450,
        },
    ]
    assert "email" not in body
    assert body["phone"] == "***-***-**42"
    assert "maria@" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("role", ["cashier", "finance"])  # any staff role; login is slow
def test_staff_see_unmasked(client, login_as, accounts, role):
    login_as(role)
    body = client.get("/api/v1/accounts/100200").get_json()
    assert body["masked"] is False
    assert body["name"] == "MARIA GONZALEZ"
    assert body["email"] == "maria@example.com"
    search = client.get("/api/v1/accounts?q=100200").get_json()
    assert search["accounts"][0]["name"] == "MARIA GONZALEZ"


def test_anonymous_is_refused(client, accounts):
    _error(client.get("/api/v1/accounts?q=bristol"), 401, "unauthenticated")
    _error(client.get("/api/v1/accounts/100200"), 401, "unauthenticated")


BAD_REQUESTS = [
    ("/api/v1/accounts", "empty"),
    ("/api/v1/accounts?q=", "empty"),
    ("/api/v1/accounts?q=%20%20", "empty"),
    ("/api/v1/accounts?q=br", "too_short"),
    ("/api/v1/accounts?q=1234%20apt%205", "too_short"),
    ("/api/v1/accounts?q=" + "x" * 200, "too_long"),
    ("/api/v1/accounts?q=bristol%3Bdrop", "bad_characters"),
    ("/api/v1/accounts?q=" + "1" * 25, "bad_length"),
    ("/api/v1/accounts?q=1234567%20bristol", "bad_house_number"),
    ("/api/v1/accounts?q=bristol&limit=0", "bad_limit"),
    ("/api/v1/accounts?q=bristol&limit=51", "bad_limit"),
    ("/api/v1/accounts?q=bristol&limit=ten", "bad_limit"),
    ("/api/v1/accounts?q=bristol&limit=-1", "bad_limit"),
    ("/api/v1/accounts?q=bristol&limit=1.5", "bad_limit"),
    ("/api/v1/accounts/12ab", "bad_number"),
    ("/api/v1/accounts/" + "1" * 21, "bad_number"),
    ("/api/v1/accounts/%20", "bad_number"),
]


def test_bad_input_is_a_clear_400(kiosk_client, accounts):
    # One test for all of them: each case would otherwise pay for a new app and kiosk.
    for url, code in BAD_REQUESTS:
        _error(kiosk_client.get(url), 400, code)


def test_bad_scanline_check_digit_is_400(kiosk_client, accounts):
    digits = scanline.compose("100200", "2611000001", 4450)
    wrong = digits[:-1] + str((int(digits[-1]) + 3) % 10)
    _error(kiosk_client.get(f"/api/v1/accounts?q={wrong}"), 400, "bad_check_digit")
    _error(kiosk_client.get("/api/v1/accounts/424242"), 404, "account_not_found")


def _second_kiosk(app, sessions, office):
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "kiosk", name="Second kiosk")
        _, token = pair(s, code)
        s.commit()
    c = app.test_client()
    c.set_cookie(DEVICE_COOKIE, token)
    return c, token


def test_rate_limit_per_kiosk_station(app, kiosk_client, sessions, office, accounts):
    app.config["LOOKUP_RATE_PER_MINUTE"] = 3
    for _ in range(3):
        assert kiosk_client.get("/api/v1/accounts?q=bristol").status_code == 200
    # Refused queries count too, and the detail lookup shares the same budget.
    response = kiosk_client.get("/api/v1/accounts/100200")
    body = _error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["error"]["retry_after"] == retry_after
    _error(kiosk_client.get("/api/v1/accounts?q="), 429, "rate_limited")

    other, _ = _second_kiosk(app, sessions, office)
    assert other.get("/api/v1/accounts?q=bristol").status_code == 200

    # Once the window has passed the station may search again.
    with sessions() as s:
        s.execute(update(RateLimitBucket).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        s.commit()
    assert kiosk_client.get("/api/v1/accounts?q=bristol").status_code == 200


def test_rate_limit_is_shared_by_every_worker(
    app, database_url, tmp_path, sessions, office, accounts
):
    """Two application instances (as two gunicorn workers would be) count the same hits."""
    app.config["LOOKUP_RATE_PER_MINUTE"] = 4
    other_app = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "worker2"),
            "SECRET_KEY": app.config["SECRET_KEY"],
            "LOOKUP_RATE_PER_MINUTE": 4,
        }
    )
    try:
        first, token = _second_kiosk(app, sessions, office)
        second = other_app.test_client()
        second.set_cookie(DEVICE_COOKIE, token)
        statuses = [
            (first if i % 2 else second).get("/api/v1/accounts?q=bristol").status_code
            for i in range(6)
        ]
        assert statuses == [200, 200, 200, 200, 429, 429]
    finally:
        other_app.extensions["payoffice.db"].engine.dispose()


def test_staff_rate_limit_is_per_user(app, client, login_as, sessions, office, accounts):
    app.config["LOOKUP_RATE_PER_MINUTE"] = 2
    login_as("cashier")
    assert client.get("/api/v1/accounts?q=bristol").status_code == 200
    assert client.get("/api/v1/accounts?q=bristol").status_code == 200
    _error(client.get("/api/v1/accounts?q=bristol"), 429, "rate_limited")

    with sessions() as s:
        colleague = factories.make_staff(s, "cashier", office_id=office.id)
        s.commit()
    other = app.test_client()
    assert login(other, colleague.username).status_code == 302
    assert other.get("/api/v1/accounts?q=bristol").status_code == 200
