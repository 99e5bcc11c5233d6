"""Pay at the kiosk in a real browser: scan, pay, decline and retry, cancel, bad amounts."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from payments.models import Payment
from tests.e2e.keys import press, press_key, ready

SCAN = "Enter"


def scan(page, scanline: str) -> None:
    """The bill scanner types the digits and Enter like a keyboard."""
    ready(page)
    page.keyboard.type(scanline)
    page.keyboard.press(SCAN)


def start(page, language: str = "English") -> None:
    page.goto("/kiosk/")
    page.locator("form.languages").get_by_role("button", name=re.compile(language)).click()


def test_scan_and_pay_approved_in_two_touches(kiosk_page, make_account, shots, sessions):
    page = kiosk_page
    number, line = make_account(balance_cents=8450, past_due_cents=2000)
    page.goto("/kiosk/")
    shots(page, "attract")
    scan(page, line)  # straight from the attract screen
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
    expect(page.get_by_text("$84.50").first).to_be_visible()
    expect(page.get_by_text("Past due")).to_be_visible()
    shots(page, "account")
    page.get_by_role("button", name=re.compile(r"Pay \$84\.50")).click()  # touch 1
    expect(
        page.get_by_role("heading", name="Thank you! Your payment was approved.")
    ).to_be_visible()
    receipt = page.locator(".receipt-number").inner_text()
    assert re.match(r"^SA-\d{8}-\d{4}$", receipt), receipt
    shots(page, "approved")
    with sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.receipt_number == receipt))
        assert payment.status == "succeeded" and payment.amount_cents == 8450
    page.get_by_role("link", name="Email me a receipt").click()
    press(page, "ana@", ".keyboard")
    page.locator("#email").type("example")
    press_key(page, ".com")
    shots(page, "email")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("a***@example.com")).to_be_visible()
    with sessions() as s:
        assert s.scalar(select(Payment.email).where(Payment.id == payment.id)) == "ana@example.com"


def _find_by_keypad(page, number: str, find_label: str, submit: str) -> None:
    page.get_by_role("link", name=find_label).click()
    press(page, number)
    page.get_by_role("button", name=submit).click()


def _amount(page, text: str, submit: str) -> None:
    page.locator("#amount").fill(text)
    page.get_by_role("button", name=submit).click()


def test_bad_amounts_then_decline_then_retry_in_spanish(
    kiosk_page, make_account, shots, sessions, test_card
):
    page = kiosk_page
    number, _line = make_account(balance_cents=5000)
    test_card("card_declined")
    start(page, "Español")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_role("link", name=re.compile("Pagar mi factura")).click()
    _find_by_keypad(page, number, "Escribir mi número de cuenta", "Buscar mi cuenta")
    expect(page.get_by_role("heading", name="Su cuenta", exact=True)).to_be_visible()
    page.get_by_role("link", name="Pagar otra cantidad").click()
    shots(page, "amount")
    _amount(page, "abc", "Continuar al pago")
    expect(page.get_by_role("alert")).to_contain_text("teclas de números")
    shots(page, "amount-letters")
    _amount(page, "0", "Continuar al pago")
    expect(page.get_by_role("alert")).to_contain_text("mayor que cero")
    _amount(page, "2500", "Continuar al pago")
    expect(page.get_by_role("alert")).to_contain_text("El pago máximo")
    with sessions() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0  # nothing changed
    expect(page.locator("#amount")).to_have_value("2500")  # what was typed stays to correct
    press_key(page, "Borrar todo", ".keypad")
    press(page, "20.00")
    page.get_by_role("button", name="Continuar al pago").click()
    expect(page.get_by_text("El banco no aprobó esta tarjeta.")).to_be_visible()
    shots(page, "declined")
    test_card("approve")
    page.get_by_role("button", name="Probar con otra tarjeta").click()
    expect(page.get_by_role("heading", name="¡Gracias! Su pago fue aprobado.")).to_be_visible()
    shots(page, "approved")
    with sessions() as s:
        statuses = sorted(s.scalars(select(Payment.status)))
        assert statuses == ["failed", "succeeded"]
        assert s.scalar(select(Payment.language).where(Payment.status == "succeeded")) == "es"


def test_cancel_while_waiting_for_the_card_in_vietnamese(
    kiosk_page, make_account, shots, sessions, test_card
):
    page = kiosk_page
    _number, line = make_account(balance_cents=3000)
    test_card("reader_timeout")  # the reader waits for a card that never comes
    start(page, "Tiếng Việt")
    scan(page, line)
    page.get_by_role("button", name=re.compile("Trả")).first.click()
    expect(page.get_by_text("Chạm, cắm hoặc quẹt thẻ vào máy đọc thẻ.")).to_be_visible()
    expect(page.get_by_role("button", name="Thử thẻ khác")).to_be_hidden()  # only after a failure
    shots(page, "waiting")
    page.get_by_role("button", name="Hủy").click()
    expect(page.get_by_text("Đã hủy thanh toán. Thẻ của quý vị chưa bị trừ tiền.")).to_be_visible()
    shots(page, "canceled")
    with sessions() as s:
        assert list(s.scalars(select(Payment.status))) == ["canceled"]


def test_bad_scan_and_unknown_account(kiosk_page, make_account, shots, sessions):
    page = kiosk_page
    _number, line = make_account()
    start(page)
    page.get_by_role("link", name=re.compile("Pay my bill")).click()
    shots(page, "find")
    bad = line[:-1] + str((int(line[-1]) + 1) % 10)
    scan(page, bad)
    expect(page.get_by_role("alert")).to_contain_text("could not read that barcode")
    _find_by_keypad(page, "99999999", "Type my account number", "Find my account")
    expect(page.get_by_role("heading", name="We could not find your account")).to_be_visible()
    expect(page.get_by_role("link", name="See a person instead")).to_be_visible()
    shots(page, "not-found")


def test_same_amount_twice_is_asked_for_and_a_reader_cancel_can_be_tried_again(
    kiosk_page, make_account, shots, sessions, test_card
):
    page = kiosk_page
    _number, line = make_account(balance_cents=6000)
    start(page)
    scan(page, line)
    page.get_by_role("link", name="Pay another amount").click()
    press(page, "20")
    page.get_by_role("button", name="Continue to payment").click()
    expect(
        page.get_by_role("heading", name="Thank you! Your payment was approved.")
    ).to_be_visible()
    receipt = page.locator(".receipt-number").inner_text()
    page.get_by_role("link", name="Something else").click()
    page.get_by_role("link", name=re.compile("Pay my bill")).click()
    page.get_by_role("link", name="Pay another amount").click()
    press(page, "20")
    page.get_by_role("button", name="Continue to payment").click()
    # The same amount a minute later: a second payment only when the visitor says so.
    expect(page.get_by_text("$20.00 was already paid on this account")).to_be_visible()
    expect(page.locator('[data-fill="receipt_number"]')).to_have_text(receipt)
    expect(page.get_by_role("button", name="Try another card")).to_be_hidden()
    shots(page, "duplicate", axe=True, landscape=False)
    test_card("customer_cancel")
    page.get_by_role("button", name="Yes, pay again").click()
    # Canceled on the reader: try again, or leave; nothing to "cancel" any more.
    expect(page.get_by_text("The payment was canceled. Your card was not charged.")).to_be_visible()
    expect(page.get_by_role("button", name="Back to my account")).to_be_visible()
    shots(page, "canceled-on-reader", landscape=False)
    test_card("approve")
    page.get_by_role("button", name="Try again").click()
    expect(
        page.get_by_role("heading", name="Thank you! Your payment was approved.")
    ).to_be_visible()
    with sessions() as s:
        statuses = sorted(s.scalars(select(Payment.status)))
        assert statuses == ["canceled", "succeeded", "succeeded"]
