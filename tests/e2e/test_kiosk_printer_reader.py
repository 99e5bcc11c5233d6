"""In a real browser: the kiosk's printer has no paper (a real socket on 127.0.0.1 answering
ESC/POS status with "paper out"), so the customer is told before the card prompt and pays
without paper or with an emailed receipt; and the card reader is offline (the simulated
reader's ``reader_offline`` test card), so the customer sees it plainly with a way to a
person, and the attempt is canceled at the processor."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk.models import Station
from payments.models import Payment
from tests.e2e.keys import press, press_key
from tests.e2e.test_kiosk_pay import scan, start
from tests.hardware.loopback import PAPER_OUT, LoopbackPrinter


@pytest.fixture
def paper_out(live_server, sessions):
    printer = LoopbackPrinter(PAPER_OUT)
    with sessions() as s:
        s.get(Station, live_server.station_id).printer_url = printer.url
        s.commit()
    yield printer
    printer.close()


def test_paper_out_then_pay_without_paper_in_spanish(
    kiosk_page, make_account, shots, sessions, paper_out
):
    page = kiosk_page
    _number, line = make_account(balance_cents=8450)
    start(page, "Español")
    scan(page, line)
    page.get_by_role("button", name=re.compile(r"Pagar")).first.click()
    expect(
        page.get_by_role(
            "heading", name="La impresora de recibos no puede imprimir en este momento"
        )
    ).to_be_visible()
    shots(page, "printer-paper-out", axe=True)
    page.get_by_role("button", name="Seguir sin recibo de papel").click()
    expect(page.get_by_role("heading", name="¡Gracias! Su pago fue aprobado.")).to_be_visible()
    expect(page.get_by_text("Por favor, anote su número de recibo.")).to_be_visible()
    receipt = page.locator(".receipt-number").inner_text()
    shots(page, "approved-no-paper", axe=True)
    with sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.receipt_number == receipt))
        assert payment.status == "succeeded"  # the payment stands; the print job waits
    assert receipt.encode() not in paper_out.received


def test_paper_out_then_emailed_receipt(kiosk_page, make_account, shots, sessions, paper_out):
    page = kiosk_page
    _number, line = make_account(balance_cents=3000)
    start(page)
    scan(page, line)
    page.get_by_role("button", name=re.compile(r"Pay \$30\.00")).click()
    page.get_by_role("link", name="Email me the receipt").click()
    press(page, "ana", ".keyboard")
    press_key(page, "@gmail.com")
    shots(page, "email-before-paying")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_text("We will email your receipt to a***@gmail.com.")).to_be_visible()
    shots(page, "approved-emailed")
    with sessions() as s:
        payment = s.scalars(select(Payment)).one()
        assert (payment.status, payment.email) == ("succeeded", "ana@gmail.com")


def test_reader_offline_in_vietnamese(kiosk_page, make_account, shots, sessions, test_card):
    page = kiosk_page
    _number, line = make_account(balance_cents=3000)
    test_card("reader_offline")
    start(page, "Tiếng Việt")
    scan(page, line)
    page.get_by_role("button", name=re.compile("Trả")).first.click()
    expect(page.get_by_text("Máy đọc thẻ hiện không hoạt động.")).to_be_visible()
    expect(page.get_by_text("Nhân viên tại quầy có thể nhận thanh toán")).to_be_visible()
    expect(page.get_by_role("button", name="Thử thẻ khác")).to_be_hidden()
    shots(page, "reader-offline", axe=True)
    with sessions() as s:
        payment = s.scalars(select(Payment)).one()
        assert (payment.status, payment.failure_code) == ("canceled", "reader_offline")
    page.locator(".see-person").click()
    expect(page).to_have_url(re.compile(r"/kiosk/ticket$"))
    shots(page, "see-a-person")
