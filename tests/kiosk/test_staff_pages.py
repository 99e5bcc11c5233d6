"""Staff pages: the counter's printer alert and reprints, the finance daily report."""

from __future__ import annotations

from sqlalchemy import select

from kiosk.worker import build_handlers
from payments import outbox
from payments.audit import AuditEvent
from payments.outbox import OutboxMessage
from receipts.printing import PRINT_TOPIC
from tests.conftest import csrf_token
from tests.receipts.conftest import make_world, pay


def _print_jobs(sessions):
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.topic == PRINT_TOPIC)))


def test_printer_alert_lists_waiting_receipts(
    client, login_as, session, sessions, office, tmp_path
):
    # Port 9 on loopback has no printer: the job fails, waits, and the counter is told.
    world = make_world(session, office, "tcp://127.0.0.1:9?timeout=0.5")
    payment = pay(session, world, 2_500)
    handlers = build_handlers(
        {"INSTANCE_PATH": str(tmp_path), "CIS_ADAPTER": "file", "CIS_EXCHANGE_DIR": str(tmp_path)}
    )
    assert outbox.deliver_due(sessions, handlers, topics=[PRINT_TOPIC]).failed == 1
    login_as("cashier")
    page = client.get("/counter/").get_data(as_text=True)
    assert "Printer needs attention" in page
    assert payment.receipt_number in page


def test_no_alert_when_nothing_waits(client, login_as):
    login_as("cashier")
    assert "Printer needs attention" not in client.get("/counter/").get_data(as_text=True)


def test_reprint_is_marked_audited_and_unknown_numbers_change_nothing(
    client, login_as, session, sessions, office
):
    world = make_world(session, office, None)
    payment = pay(session, world, 4_200)
    user = login_as("supervisor")
    before = len(_print_jobs(sessions))

    token = csrf_token(client, "/counter/")
    missing = client.post(
        "/counter/reprint", data={"receipt_number": "SA-19990101-0001", "csrf_token": token}
    )
    assert missing.status_code == 303
    assert "No receipt SA-19990101-0001" in client.get("/counter/").get_data(as_text=True)
    assert len(_print_jobs(sessions)) == before

    done = client.post(
        "/counter/reprint",
        data={"receipt_number": payment.receipt_number.lower(), "csrf_token": token},
    )
    assert done.status_code == 303
    jobs = [j for j in _print_jobs(sessions) if ":reprint" in j.key]
    assert [j.key for j in jobs] == [f"{payment.receipt_number}:reprint1:copy1"]
    assert jobs[0].data["document"]["reprint"] is True
    with sessions() as s:
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == "receipt.reprinted")).one()
        assert entry.actor == user.username


def test_reprint_without_csrf_is_refused(client, login_as, session, office, sessions):
    world = make_world(session, office, None)
    payment = pay(session, world, 1_000)
    login_as("cashier")
    before = len(_print_jobs(sessions))
    r = client.post("/counter/reprint", data={"receipt_number": payment.receipt_number})
    assert r.status_code == 400
    assert len(_print_jobs(sessions)) == before


def test_finance_page_links_the_daily_report(client, login_as):
    login_as("finance")
    page = client.get("/finance/").get_data(as_text=True)
    assert 'action="/api/v1/reports/daily.pdf"' in page
    assert "/api/v1/reports/daily.csv?date=" in page
