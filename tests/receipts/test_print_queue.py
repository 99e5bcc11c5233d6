"""The print queue end to end: a payment commits its print job to the outbox, the worker's
handler prints it on emupos (a wire-level printer simulator on 127.0.0.1), faults make the
job wait, and after the fault clears it prints exactly once."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from PIL import Image
from sqlalchemy import select

from kiosk import receipting
from kiosk.worker import build_handlers
from payments import outbox
from payments.db import utcnow
from payments.models import Payment, PaymentStatus
from payments.outbox import OutboxMessage
from payments.service import TenderInput
from receipts.layout import Line
from receipts.printing import PRINT_TOPIC
from receipts.raster import draw_lines
from tests.receipts.conftest import make_world, pay


@pytest.fixture
def handlers(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "CIS_ADAPTER": "file"}
    config["CIS_EXCHANGE_DIR"] = str(tmp_path / "cis")
    return build_handlers(config)


@pytest.fixture
def shop(session, office, printer):
    return make_world(session, office, printer.printer_url)


def deliver(sessions, handlers, *, later: bool = False):
    """One outbox pass over print jobs; ``later`` skips the retry back-off."""
    now = utcnow() + dt.timedelta(hours=1) if later else None
    # With a clock moved ahead a failed job is due again at once: one attempt per pass.
    limit = 1 if later else 100
    return outbox.deliver_due(sessions, handlers, topics=[PRINT_TOPIC], now=now, limit=limit)


def print_jobs(session) -> list[OutboxMessage]:
    jobs = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == PRINT_TOPIC)
            .execution_options(populate_existing=True)
        )
    )
    session.commit()  # end the read: SQLite transactions here hold the write lock
    return jobs


def contains_rows(haystack: Image.Image, needle: Image.Image) -> bool:
    """Whether the inked rows of ``needle`` appear, in order, in ``haystack`` (both full
    printer width, 1-bit): the printed PNG holds exactly the line we drew."""
    hay = haystack.convert("1")
    ned = needle.convert("1")
    assert hay.width == ned.width
    hay_rows = [hay.crop((0, y, hay.width, y + 1)).tobytes() for y in range(hay.height)]
    ned_rows = [ned.crop((0, y, ned.width, y + 1)).tobytes() for y in range(ned.height)]
    blank = b"\xff" * len(ned_rows[0])
    while ned_rows and ned_rows[0] == blank:
        ned_rows.pop(0)
    while ned_rows and ned_rows[-1] == blank:
        ned_rows.pop()
    n = len(ned_rows)
    return any(hay_rows[y : y + n] == ned_rows for y in range(len(hay_rows) - n + 1))


def test_spanish_cash_payment_prints_and_opens_the_drawer(
    session, sessions, shop, printer, handlers
):
    before = len(printer.receipts())
    payment = pay(session, shop, 8000, TenderInput("cash", 10000), language="es")
    [job] = print_jobs(session)
    assert job.key == f"{payment.receipt_number}:copy1" and job.data["kick_drawer"] is True
    assert printer.state()["drawer"] == "closed"

    assert deliver(sessions, handlers).delivered == 1
    found = printer.wait_for_receipts(before + 1)
    text = printer.text(found[0]["id"])
    assert payment.receipt_number in text
    assert "RECIBO DE PAGO" in text and "Dirección del servicio" in text
    assert "Total pagado" in text and "$80.00" in text
    assert "Cambio" in text and "$20.00" in text
    assert "Efectivo" in text and "Cajero(a)" in text and "Ana R." in text
    assert "N***** V** A*" in text  # masked name
    assert "Saldo después del pago" in text and "$40.00" in text  # balance after payment
    assert printer.state()["drawer"] == "open"  # the drawer event
    [job] = print_jobs(session)
    assert job.status == "delivered" and job.acknowledgment.startswith("printed")


def test_vietnamese_receipt_prints_every_diacritic(session, sessions, shop, printer, handlers):
    before = len(printer.receipts())
    payment = pay(session, shop, 8000, TenderInput("cash", 8000), language="vi")
    assert deliver(sessions, handlers).delivered == 1
    found = printer.wait_for_receipts(before + 1)
    text = printer.text(found[0]["id"])
    assert f"[barcode CODE128 {payment.receipt_number}]" in text
    assert "[image 576x" in text  # Vietnamese lines go out as raster images
    assert "?" not in text
    with Image.open(io.BytesIO(printer.image(found[0]["id"]))) as printed:
        for line in (
            Line("pair", "Số tiền đã trả", "$80.00", bold=True),
            Line("pair", "Số biên lai", payment.receipt_number, bold=True),
            Line("text", "Cảm ơn quý khách đã thanh toán.", align="center"),
        ):
            assert contains_rows(printed, draw_lines([line], 576)), line.text


@pytest.mark.parametrize("fault", ["paper-out", "cover-open", "offline"])
def test_fault_payment_stands_job_waits_then_prints_exactly_once(
    session, sessions, shop, printer, handlers, fault
):
    before = len(printer.receipts())
    printer.fault(fault)
    payment = pay(session, shop, 4000, TenderInput("cash", 4000))

    run = deliver(sessions, handlers)
    assert (run.delivered, run.failed) == (0, 1)
    [job] = print_jobs(session)
    assert job.status == "pending" and job.attempts == 1
    expected = {"paper-out": "paper_out", "cover-open": "cover_open", "offline": "offline"}
    assert expected[fault] in job.last_error
    assert session.get(Payment, payment.id).status == PaymentStatus.SUCCEEDED
    session.commit()

    # Retries while the fault lasts send nothing either.
    assert deliver(sessions, handlers, later=True).failed == 1
    printer.fault(fault, False)
    assert len(printer.receipts()) == before

    assert deliver(sessions, handlers, later=True).delivered == 1
    found = printer.wait_for_receipts(before + 1)
    assert payment.receipt_number in printer.text(found[0]["id"])
    assert deliver(sessions, handlers, later=True).delivered == 0
    # Another job goes through after it, so anything held would have printed by now.
    receipting.enqueue_receipt(session, payment, reprint=True)
    session.commit()
    assert deliver(sessions, handlers).delivered == 1
    found = printer.wait_for_receipts(before + 2)
    assert len(found) == before + 2
    texts = [printer.text(r["id"]) for r in found[: len(found) - before]]
    assert sum(payment.receipt_number in t and "REPRINT" not in t for t in texts) == 1
    assert sum("*** REPRINT ***" in t for t in texts) == 1


def test_paper_low_still_prints(session, sessions, shop, printer, handlers):
    printer.fault("paper-near-end")
    before = len(printer.receipts())
    pay(session, shop, 1000)
    assert deliver(sessions, handlers).delivered == 1
    assert len(printer.wait_for_receipts(before + 1)) == before + 1
    [job] = print_jobs(session)
    assert "paper_low" in job.acknowledgment


def test_a_retry_after_a_crash_does_not_print_twice(session, sessions, shop, printer, handlers):
    """The printer took the job but the worker died before marking it delivered."""
    before = len(printer.receipts())
    pay(session, shop, 1000)
    [job] = print_jobs(session)
    session.expunge(job)
    assert handlers[PRINT_TOPIC](job).startswith("printed")
    printer.wait_for_receipts(before + 1)
    assert "already printed" in handlers[PRINT_TOPIC](job)  # the redelivery
    assert deliver(sessions, handlers).delivered == 1
    assert len(printer.receipts()) == before + 1


def test_same_copy_cannot_be_queued_twice(session, shop):
    payment = pay(session, shop, 1000)
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        receipting.enqueue_receipt(session, payment)
        session.flush()
    session.rollback()


def test_kiosk_receipts_and_the_emailed_choice(session, sessions, shop, printer, handlers):
    paper = pay(session, shop, 1000, TenderInput("card", 1000), at="kiosk")
    emailed = pay(session, shop, 1000, TenderInput("card", 1000), at="kiosk", email="a@b.example")
    jobs = {j.key: j for j in print_jobs(session)}
    assert set(jobs) == {f"{paper.receipt_number}:copy1"}
    assert jobs[f"{paper.receipt_number}:copy1"].data["kick_drawer"] is False
    assert jobs[f"{paper.receipt_number}:copy1"].data["expires_at"]
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "email")).all()
    session.commit()
    assert [m.key for m in mail] == [f"{emailed.receipt_number}:email"]


def test_a_kiosk_receipt_nobody_waits_for_is_not_printed(
    session, sessions, shop, printer, handlers
):
    printer.fault("paper-out")
    before = len(printer.receipts())
    pay(session, shop, 1000, TenderInput("card", 1000), at="kiosk")
    assert deliver(sessions, handlers).failed == 1
    printer.fault("paper-out", False)
    # The customer has gone: the job's 15 minutes are over (its deadline moved into the past).
    [job] = print_jobs(session)
    data = job.data
    data["expires_at"] = (utcnow() - dt.timedelta(minutes=1)).isoformat()
    job.payload = json.dumps(data)
    session.merge(job)
    session.commit()
    assert deliver(sessions, handlers, later=True).delivered == 1
    [job] = print_jobs(session)
    assert job.acknowledgment.startswith("expired")
    assert len(printer.receipts()) == before


def test_preview_printer_saves_png_and_text(session, sessions, office, handlers, tmp_path):
    world = make_world(session, office, None)  # demo: no printer configured
    payment = pay(session, world, 2500, language="es")
    assert deliver(sessions, handlers).delivered == 1
    saved = tmp_path / "instance" / "receipts" / f"{payment.receipt_number}_copy1"
    assert "RECIBO DE PAGO" in saved.with_suffix(".txt").read_text(encoding="utf-8")
    with Image.open(saved.with_suffix(".png")) as img:
        assert img.height > 600


def test_bad_printer_url_keeps_the_job_waiting(session, sessions, office, handlers):
    world = make_world(session, office, "lpt://front")
    pay(session, world, 2500)
    assert deliver(sessions, handlers).failed == 1
    [job] = print_jobs(session)
    assert job.status == "pending" and "Unknown printer URL scheme" in job.last_error


def test_station_printer_status_for_the_kiosk_check(session, shop, printer):
    assert receipting.station_printer_status(shop.kiosk).value == "online"
    printer.fault("paper-out")
    assert receipting.station_printer_status(shop.kiosk).value == "paper_out"


def test_queue_ticket_prints_at_the_kiosk(session, sessions, shop, printer, handlers):
    from kiosk.models import QueueTicket

    ticket = QueueTicket(
        office_id=shop.office.id,
        business_date=dt.date(2026, 11, 23),
        number="B012",
        service="billing",
        language="es",
        station_id=shop.kiosk.id,
    )
    session.add(ticket)
    session.flush()
    before = len(printer.receipts())
    message = receipting.enqueue_ticket(session, ticket, estimated_wait_minutes=12)
    assert message.key == "ticket:SA:2026-11-23:B012"
    session.commit()
    assert deliver(sessions, handlers).delivered == 1
    found = printer.wait_for_receipts(before + 1)
    text = printer.text(found[0]["id"])
    assert "SU NÚMERO" in text and "B012" in text
    assert "Facturación y pagos" in text and "aprox. 12 min" in text


def test_counter_sees_printer_problems_and_print_now(session, sessions, shop, printer, tmp_path):
    printer.fault("cover-open")
    payment = pay(session, shop, 1000)
    config = {"INSTANCE_PATH": str(tmp_path / "instance")}
    receipting.print_now(sessions, config).join()
    [problem] = receipting.print_problems(session, shop.office.id)
    session.commit()
    assert problem["key"] == f"{payment.receipt_number}:copy1"
    assert "cover_open" in problem["last_error"] and problem["attempts"] == 1

    printer.fault("cover-open", False)
    before = len(printer.receipts())
    second = pay(session, shop, 1200)
    receipting.print_now(sessions, config).join()  # the new job goes out at once
    found = printer.wait_for_receipts(before + 1)
    assert second.receipt_number in printer.text(found[0]["id"])


def test_print_journal_forgets_old_keys(tmp_path):
    import os

    from receipts.printing import PrintJournal

    journal = PrintJournal(tmp_path / "journal")
    journal.mark("SA-20261123-0001:copy1", "printed")
    journal.mark("SA-20261123-0002:copy1", "printed")
    old = journal._path("SA-20261123-0001:copy1")
    os.utime(old, (0, 0))
    assert journal.prune() == 1
    assert not journal.seen("SA-20261123-0001:copy1") and journal.seen("SA-20261123-0002:copy1")


def test_reprint_shows_the_receipt_as_issued_with_todays_marks(session, world):
    from kiosk.models import Account

    payment = pay(session, world, 8000, language="vi")
    first = receipting.receipt_document(session, payment)
    assert first.balance_after_cents == 4000 and first.cashier == "Ana R."
    session.get(Account, world.account.id).balance_cents = 99_999  # the CIS moved on
    session.get(Payment, payment.id).status = PaymentStatus.VOIDED
    session.flush()
    [job] = receipting.enqueue_receipt(session, payment, reprint=True)
    session.commit()
    doc = job.data["document"]
    assert job.key == f"{payment.receipt_number}:reprint1:copy1"
    assert doc["balance_after_cents"] == 4000 and doc["reprint"] and doc["voided"]
    assert doc["language"] == "vi" and job.data["kick_drawer"] is False
