"""``payoffice day ...`` and ``payoffice report daily`` through Click's test runner."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from kiosk.cli import cli
from kiosk.models import Account
from payments import days, outbox, service
from payments.audit import AuditEvent
from payments.db import business_date
from payments.posting import CIS_TOPICS
from tests import factories
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


def _run(app, *args):
    return app.test_cli_runner().invoke(cli, list(args))


def _cash_payment(sessions, office, amount=2500):
    with sessions() as s:
        account = factories.make_account(s, balance_cents=50_000)
        s.commit()
        service.create_payment(
            s,
            service.PaymentCommand(
                office_id=office.id,
                account_id=account.id,
                account_number=account.number,
                channel="counter",
                amount_cents=amount,
                tenders=(service.TenderInput("cash", amount),),
                idempotency_key=f"cli-{account.number}",
            ),
        )
        s.commit()


def test_close_refused_then_with_exception_then_reopened(app, sessions, office):
    today = business_date().isoformat()
    _cash_payment(sessions, office)
    r = _run(app, "day", "status", "--office", "SA", "--date", today)
    assert r.exit_code == 0 and "open" in r.output and "CIS posting" in r.output

    r = _run(app, "day", "close", "--office", "SA", "--date", today)
    assert r.exit_code == 1
    assert "day_not_ready" in r.output and "1 CIS posting not yet delivered" in r.output

    with sessions() as s:
        fin = factories.make_staff(s, "finance", username="fin.ana", office_id=office.id)
        factories.make_staff(s, "supervisor", username="sup.bao", office_id=office.id)
        s.commit()
        fin_id = fin.id
    r = _run(
        app, "day", "close", "--office", "SA", "--date", today,
        "--exception", "CIS outage", "--by", "fin.ana",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "closed WITH EXCEPTION: CIS outage" in r.output
    with sessions() as s:
        record = days.get_day(s, office.id, business_date())
        assert record.status == "closed" and record.closed_by_id == fin_id
    assert "already closed" in _run(app, "day", "close", "--date", today).output

    r = _run(
        app, "day", "reopen", "--office", "SA", "--date", today,
        "--finance", "fin.ana", "--supervisor", "fin.ana", "--reason", "recount",
    )  # fmt: skip
    assert r.exit_code != 0 and "not an active supervisor" in r.output
    r = _run(
        app, "day", "reopen", "--office", "SA", "--date", today,
        "--finance", "fin.ana", "--supervisor", "sup.bao", "--reason", "recount",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    with sessions() as s:
        assert days.get_day(s, office.id, business_date()).status == "reopened"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("day.%")))
        assert list(actions) == ["day.closed_with_exception", "day.reopened"]


def test_close_after_the_cis_caught_up(app, sessions, office):
    _cash_payment(sessions, office)
    outbox.deliver_due(sessions, {t: (lambda m: "ack") for t in CIS_TOPICS}, limit=100)
    r = _run(app, "day", "close")  # one office, today: both may be left out
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"SA {business_date().isoformat()} closed"


def test_bad_input_is_refused_clearly(app, sessions, office):
    r = _run(app, "day", "close", "--office", "SA", "--date", "2026-02-30")
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
    r = _run(app, "day", "close", "--office", "XX")
    assert r.exit_code == 1 and "office_not_found" in r.output
    r = _run(app, "report", "daily", "--format", "xml")
    assert r.exit_code == 2
    with sessions() as s:
        assert s.scalars(select(Account)).all() == []


def test_report_daily_in_every_format(app, sessions, office, tmp_path):
    _cash_payment(sessions, office, 2500)
    today = business_date().isoformat()
    r = _run(app, "report", "daily", "--office", "SA", "--date", today, "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["collected"] == {"count": 1, "amount_cents": 2500}
    r = _run(app, "report", "daily", "--date", today, "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.output)))
    assert ["totals", "net", "", "", "25.00", ""] in rows
    target = tmp_path / "day.pdf"
    r = _run(app, "report", "daily", "--format", "pdf", "--output", str(target))
    assert r.exit_code == 0, r.output
    assert target.read_bytes().startswith(b"%PDF")
