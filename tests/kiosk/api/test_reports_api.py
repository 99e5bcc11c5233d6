"""Finance API through the real app: the daily report as JSON, PDF and CSV, and closing a day
(refused while a CIS posting is undelivered, allowed with an exception, then locked)."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import select

from payments import outbox
from payments.audit import AuditEvent
from payments.db import business_date
from payments.posting import CIS_TOPICS
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.pdf import pdf_text
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

TOKEN_PAGE = "/pair"


def _client(app, sessions, office, role, office_id="same"):
    with sessions() as s:
        user = factories.make_staff(
            s, role, office_id=office.id if office_id == "same" else office_id
        )
        s.commit()
    c = app.test_client()
    assert login(c, user.username).status_code == 302
    c.csrf = csrf_token(c, TOKEN_PAGE)
    return c


@pytest.fixture
def cashier(app, sessions, office):
    return _client(app, sessions, office, "cashier")


@pytest.fixture
def finance(app, sessions, office):
    return _client(app, sessions, office, "finance")


@pytest.fixture
def acct(sessions, office):
    with sessions() as s:
        account = factories.make_account(s, balance_cents=100_000)
        s.commit()
        return {"number": account.number}


def _post(c, url, body=None, key: str | None = "auto"):
    headers = {"X-CSRFToken": c.csrf}
    if key is not None:
        headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    return c.post(url, json=body, headers=headers)


def _pay(c, acct, *tenders):
    amount = sum(a for _, a in tenders)
    body = {
        "account_number": acct["number"],
        "amount_cents": amount,
        "tenders": [
            {"kind": k, "amount_cents": a, **({"reference": "77"} if k != "cash" else {})}
            for k, a in tenders
        ],
        "confirm_duplicate": True,
    }
    r = _post(c, "/api/v1/payments", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _deliver(sessions):
    outbox.deliver_due(sessions, {t: (lambda m: "ack") for t in CIS_TOPICS}, limit=1000)


def test_daily_report_pdf_lists_the_days_cash_drawers(finance, sessions, office, tmp_path):
    with sessions() as s:
        factories.open_counter_drawer(s, office, station="Counter 7", cashier="Ana Ruiz")
        s.commit()
    pdf = finance.get("/api/v1/reports/daily.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data, tmp_path)
    assert "Cash drawers" in text and "Counter 7" in text and "Ana Ruiz" in text


def test_daily_report_json_pdf_and_csv(app, cashier, finance, acct, sessions, office):
    _pay(cashier, acct, ("cash", 2500))
    _pay(cashier, acct, ("check", 1200), ("cash", 300))
    today = business_date().isoformat()

    r = finance.get(f"/api/v1/reports/daily?date={today}")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert data["office_code"] == "SA" and data["business_date"] == today
    assert data["collected"] == {"count": 2, "amount_cents": 4000}
    assert {t["kind"]: t["collected_cents"] for t in data["tenders"]} == {
        "cash": 2800,
        "check": 1200,
    }
    assert data["net_cents"] == 4000

    pdf = finance.get("/api/v1/reports/daily.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert (
        pdf.data.startswith(b"%PDF")
        and f"daily-SA-{today}.pdf" in pdf.headers["Content-Disposition"]
    )

    got = finance.get(f"/api/v1/reports/daily.csv?date={today}")
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["section", "name", "kind", "count", "amount", "detail"]
    assert ["totals", "net", "", "", "40.00", ""] in rows
    assert any(r[:5] == ["tender", "check", "", "1", "12.00"] for r in rows)


def test_report_access_and_bad_input(app, sessions, office, cashier, finance):
    supervisor = _client(app, sessions, office, "supervisor")
    assert supervisor.get("/api/v1/reports/daily").status_code == 200
    assert cashier.get("/api/v1/reports/daily").status_code == 403
    assert app.test_client().get("/api/v1/reports/daily").status_code == 401
    for bad in ("2026-13-01", "yesterday", "2999-01-01", "20261120", "1990-01-01"):
        r = finance.get(f"/api/v1/reports/daily?date={bad}")
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_date", bad
    r = finance.get("/api/v1/reports/daily?office=NOPE")
    assert r.status_code == 404
    central = _client(app, sessions, office, "finance", office_id=None)
    r = central.get("/api/v1/reports/daily")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "office_required"
    assert central.get("/api/v1/reports/daily?office=sa").get_json()["office_code"] == "SA"


def test_close_day_through_the_api(app, cashier, finance, acct, sessions):
    _pay(cashier, acct, ("cash", 1000))
    url = f"/api/v1/days/{business_date().isoformat()}/close"
    r = _post(finance, url, key=None)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "idempotency_key_required"
    assert _post(cashier, url).status_code == 403
    r = _post(finance, url)
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert error["code"] == "day_not_ready"
    assert error["blockers"][0]["code"] == "cis_undelivered"
    assert _post(finance, "/api/v1/days/2026-02-30/close").status_code == 400
    assert _post(finance, url, body=["x"]).get_json()["error"]["code"] == "bad_json"

    _deliver(sessions)
    r = _post(finance, url)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "closed" and r.get_json()["already_closed"] is False
    again = _post(finance, url)
    assert again.status_code == 200 and again.get_json()["already_closed"] is True
    # the day is locked: no more payments land in it
    body = {
        "account_number": acct["number"],
        "amount_cents": 500,
        "tenders": [{"kind": "cash", "amount_cents": 500}],
    }
    locked = _post(cashier, "/api/v1/payments", body)
    assert locked.status_code == 409 and locked.get_json()["error"]["code"] == "day_closed"
    report = finance.get("/api/v1/reports/daily").get_json()
    assert report["day_status"] == "closed" and report["collected"]["count"] == 1


def test_close_with_an_exception(cashier, finance, acct, sessions):
    _pay(cashier, acct, ("cash", 1000))
    url = f"/api/v1/days/{business_date().isoformat()}/close"
    r = _post(finance, url, {"exception": "CIS outage, vendor ticket 4471"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["exception"] == "CIS outage, vendor ticket 4471"
    assert body["blockers"][0]["code"] == "cis_undelivered"
    with sessions() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "day.closed_with_exception")
        ).one()
        assert "vendor ticket 4471" in event.details and event.actor.startswith("finance")
