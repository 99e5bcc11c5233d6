"""The card reconciliation in the application: the finance page (run, see, resolve), the API
``GET /api/v1/reconciliation``, ``payoffice reconcile`` and the daily report's card section.
The ledger is the in-memory one the app is given (``kiosk.card_recon.LEDGER_FACTORY``); the
demo ledger is used when none is given and the gateway is the simulated reader."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from kiosk.card_recon import LEDGER_FACTORY
from kiosk.cli import cli
from payments import reconciliation, service
from payments.audit import AuditEvent
from payments.db import business_date
from payments.reconciliation import InMemoryLedger, LedgerCharge, ReconciliationException
from payments.simulated import SimulatedReader, set_test_card
from tests import factories
from tests.conftest import csrf_token
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

PAGE = "/finance/reconciliation/"


def card_paid(sessions, office, cents=4_200) -> tuple[str, str]:
    """A card payment on the simulated reader, completed now; (payment id, charge id)."""
    with sessions() as s:
        account = factories.make_account(s, balance_cents=50_000)
        s.commit()
        set_test_card(s, "sim-1", "approve")
        reader = SimulatedReader(s)
        p = service.create_payment(
            s,
            service.PaymentCommand(
                office_id=office.id,
                account_id=account.id,
                account_number=account.number,
                channel="kiosk",
                amount_cents=cents,
                tenders=(service.TenderInput("card", cents),),
                idempotency_key=f"recon-{account.number}",
            ),
        ).payment
        service.start_card(s, p, reader, reader_id="sim-1", actor="kiosk:1")
        service.refresh_card(s, p, reader, actor="kiosk:1")
        s.commit()
        assert p.status == "succeeded"
        return p.id, p.processor_charge_id


def with_stray_charge(app) -> InMemoryLedger:
    """The demo ledger plus a charge nobody receipted."""
    holder: dict[str, InMemoryLedger] = {}

    def factory(session, office_id):
        ledger = reconciliation.demo_ledger(session, office_id)
        now = reconciliation.utcnow()
        ledger.charge_list.append(LedgerCharge("ch_stray", 1_234, "succeeded", now))
        holder["ledger"] = ledger
        return ledger

    app.extensions[LEDGER_FACTORY] = factory
    return holder


def test_finance_runs_sees_and_resolves(app, client, login_as, sessions, office):
    payment_id, charge_id = card_paid(sessions, office)
    with_stray_charge(app)
    login_as("finance", username="fin.rosa")
    today = business_date().isoformat()

    page = client.get(PAGE, query_string={"date": today})
    assert page.status_code == 200 and "Not reconciled yet" in page.get_data(as_text=True)

    token = csrf_token(client, PAGE)
    r = client.post(PAGE + "run", data={"date": today, "csrf_token": token})
    assert r.status_code == 303
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "1 charge matched, 1 new exception," in html
    assert charge_id in html and "ch_stray" in html and "$42.00" in html
    assert "Charge at Stripe with no receipt" in html

    with sessions() as s:
        row = s.scalars(select(ReconciliationException)).one()
    # A note is required; nothing changes without it.
    r = client.post(
        f"{PAGE}exceptions/{row.id}/resolve",
        data={"date": today, "note": "  ", "csrf_token": token},
        follow_redirects=True,
    )
    assert "Not resolved: Say how the exception was resolved." in r.get_data(as_text=True)
    r = client.post(
        f"{PAGE}exceptions/{row.id}/resolve",
        data={"date": today, "note": "Staff test charge, refunded", "csrf_token": token},
        follow_redirects=True,
    )
    html = r.get_data(as_text=True)
    assert "resolved." in html and "Resolved by fin.rosa: Staff test charge, refunded" in html
    with sessions() as s:
        assert s.get(ReconciliationException, row.id).resolved_by == "fin.rosa"
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("reconciliation.%"))
            .order_by(AuditEvent.seq)
        ).all()
    assert actions == ["reconciliation.run", "reconciliation.exception_resolved"]

    # The report shows the card section.
    csv_text = client.get("/api/v1/reports/daily.csv", query_string={"date": today}).get_data(
        as_text=True
    )
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert ["card", "matched", "", "1", "42.00"] in [r[:5] for r in rows]
    report = client.get("/api/v1/reports/daily", query_string={"date": today}).get_json()
    assert report["card"]["matched_count"] == 1 and report["card"]["open_exceptions"] == []
    pdf = client.get("/api/v1/reports/daily.pdf", query_string={"date": today})
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_bad_input_changes_nothing(app, client, login_as, sessions, office):
    login_as("finance")
    assert client.get(PAGE, query_string={"date": "yesterday"}).status_code == 400
    assert client.get(PAGE, query_string={"date": "2999-01-01"}).status_code == 400
    token = csrf_token(client, PAGE)
    r = client.post(PAGE + "run", data={"date": "nope", "csrf_token": token}, follow_redirects=True)
    assert "Not reconciled: The business day must be a date" in r.get_data(as_text=True)
    r = client.post(
        PAGE + "exceptions/999/resolve",
        data={"note": "x", "csrf_token": token},
        follow_redirects=True,
    )
    assert "No such reconciliation exception." in r.get_data(as_text=True)

    class Down(InMemoryLedger):
        def charges(self, since, until):
            raise OSError("connection refused")

    app.extensions[LEDGER_FACTORY] = lambda _s, _o: Down()
    r = client.post(
        PAGE + "run",
        data={"date": business_date().isoformat(), "csrf_token": token},
        follow_redirects=True,
    )
    assert "The card processor could not be read" in r.get_data(as_text=True)
    with sessions() as s:
        assert (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "reconciliation.run")).all()
            == []
        )


def test_api_reports_the_stored_reconciliation(app, client, login_as, sessions, office):
    payment_id, charge_id = card_paid(sessions, office, 2_500)
    with_stray_charge(app)
    today = business_date().isoformat()
    with app.app_context():
        r = app.test_cli_runner().invoke(cli, ["reconcile", "--office", "SA", "--date", today])
    assert r.exit_code == 2, r.output  # an exception stays open
    assert (
        "1 charge(s) matched ($25.00" in r.output and "charge_without_receipt ch_stray" in r.output
    )

    login_as("finance")
    body = client.get("/api/v1/reconciliation", query_string={"date": today}).get_json()
    assert body["office"] == "SA" and body["reconciled"] is True
    fee = reconciliation.stripe_fee(2_500)
    assert (body["matched_count"], body["fee_cents"], body["net_cents"]) == (1, fee, 2_500 - fee)
    assert body["settlements"][0]["payment_id"] == payment_id
    assert [e["kind"] for e in body["exceptions"]] == ["charge_without_receipt"]
    assert body["open_exception_count"] == 1

    bad = client.get("/api/v1/reconciliation", query_string={"date": "20261120"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_date"
    other = client.get("/api/v1/reconciliation", query_string={"office": "XX"})
    assert other.status_code == 404


def test_cli_with_the_demo_ledger_matches_everything(app, sessions, office):
    card_paid(sessions, office, 1_000)
    today = business_date().isoformat()
    r = app.test_cli_runner().invoke(cli, ["reconcile", "--office", "SA", "--date", today])
    assert r.exit_code == 0, r.output
    assert "1 charge(s) matched ($10.00" in r.output and "0 new, 0 open" in r.output
    r = app.test_cli_runner().invoke(cli, ["reconcile", "--office", "SA", "--date", "bad"])
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
