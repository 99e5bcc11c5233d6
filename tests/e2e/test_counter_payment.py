"""Counter payments in a real browser (Chromium, 1366x768; screenshots also at 1920x1080):
a cash payment with the keyboard only (scan, amount, Enter, cash, Enter: change due, the
receipt printed and the drawer kicked on a loopback printer socket), and a card payment on
the station's simulated reader with its status polled live."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk.auth import DEVICE_COOKIE
from kiosk.stations import pair
from payments import drawer
from payments.models import Payment
from tests import factories
from tests.e2e.conftest import ARTIFACTS, axe_violations, describe
from tests.hardware.loopback import ONLINE, LoopbackPrinter

COUNTER_VIEW = {"width": 1366, "height": 768}
WIDE_VIEW = {"width": 1920, "height": 1080}
DRAWER_KICK = b"\x1bp"  # ESC p: the pulse that opens the cash drawer


@pytest.fixture
def station(live_server, sessions, office):
    """A counter station with a loopback printer, a signed-up cashier and an open drawer."""
    printer = LoopbackPrinter(ONLINE)
    with sessions() as s:
        st, code = factories.make_station(
            s, s.merge(office), "counter", name="Window 3", printer_url=printer.url
        )
        _, token = pair(s, code)
        cashier = factories.make_staff(s, "cashier", full_name="Rosa Tran", office_id=office.id)
        s.flush()
        drawer.open_drawer(
            s,
            office_id=office.id,
            station_id=st.id,
            cashier_id=cashier.id,
            counts={"bill_20": 5, "bill_5": 4},
            actor=cashier.username,
        )
        s.commit()
        info = {"id": st.id, "token": token, "cashier": cashier.username, "printer": printer}
    yield info
    printer.close()


@pytest.fixture
def page(browser, live_server, station):
    context = browser.new_context(viewport=COUNTER_VIEW, base_url=live_server.url, locale="en-US")
    context.add_cookies(
        [{"name": DEVICE_COOKIE, "value": station["token"], "url": live_server.url}]
    )
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield pg
    context.close()
    assert not errors, f"script errors or CSP violations: {errors}"


class Shots:
    def __init__(self, name: str):
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.count = 0

    def __call__(self, page, name: str, *, axe: bool = False) -> None:
        if axe:
            violations = axe_violations(page)
            assert not violations, f"{name} at {page.url}:\n{describe(violations)}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        stem = f"{self.count:02d}-{name}"
        page.screenshot(path=str(self.folder / f"{stem}-1366.png"))
        page.set_viewport_size(WIDE_VIEW)
        page.screenshot(path=str(self.folder / f"{stem}-1920.png"))
        page.set_viewport_size(COUNTER_VIEW)


@pytest.fixture
def shots(request):
    return Shots(request.node.name)


def sign_in_by_keyboard(page, username: str) -> None:
    page.goto("/login")
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/counter/"))


def pay_ready(page) -> None:
    page.wait_for_selector("body[data-pay-ready]", state="attached")


def wait_for_bytes(printer: LoopbackPrinter, needle: bytes) -> bytes:
    """Receipts print right after the commit, on a background pass: wait for them."""
    deadline = time.monotonic() + 10
    while needle not in printer.received and time.monotonic() < deadline:
        time.sleep(0.05)
    return printer.received


def test_cash_payment_with_the_keyboard_only(page, station, sessions, shots):
    with sessions() as s:
        account = factories.make_account(
            s, number="51234567", name="TRAN VAN MINH", phone="(714) 555-0177", balance_cents=8450
        )
        bill = factories.make_bill(s, account, 8450)
        s.commit()
        scanline = bill.scanline
    sign_in_by_keyboard(page, station["cashier"])
    # The scanner types the bill's digits and Enter into the focused search box.
    page.goto("/counter/accounts/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(scanline)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="TRAN VAN MINH")).to_be_visible()
    pay_ready(page)
    expect(page.locator("#amount")).to_be_focused()
    expect(page.locator("#amount")).to_have_value("84.50")
    page.keyboard.press("Enter")  # the full balance: on to the cash field
    expect(page.locator("#cash")).to_be_focused()
    page.keyboard.type("100")
    expect(page.locator("#change")).to_have_text("$15.50")  # change due, live
    # The one counter keymap: Alt+A amount, Alt+C cash; F3/F4 keep their counter-wide
    # meaning (queue, call next) and never land in the payment fields.
    expect(page.locator("#keymap")).to_contain_text("F3 Queue")
    expect(page.locator("#keymap")).to_contain_text("Alt+A Amount")
    page.keyboard.press("Alt+a")
    expect(page.locator("#amount")).to_be_focused()
    page.keyboard.press("F4")  # no Call next button on this screen: nothing happens
    expect(page.locator("#amount")).to_be_focused()
    page.keyboard.press("Alt+c")
    expect(page.locator("#cash")).to_be_focused()
    expect(page.locator("#cash")).to_have_value("100")
    shots(page, "account-cash-typed", axe=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    expect(page.locator("#change-due")).to_have_text("$15.50")
    receipt = page.locator(".receipt-number").inner_text()
    assert re.match(r"^SA-\d{8}-\d{4}$", receipt), receipt
    expect(page.locator(".receipt-text")).to_contain_text(receipt)
    shots(page, "payment-taken", axe=True)
    with sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.receipt_number == receipt))
        assert payment.status == "succeeded" and payment.change_cents == 1550
        assert [(t.kind, t.amount_cents) for t in payment.tenders] == [("cash", 10000)]
    assert DRAWER_KICK in wait_for_bytes(station["printer"], DRAWER_KICK)
    # The next customer: F2 goes back to the search box.
    page.keyboard.press("F2")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("tran van")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="TRAN VAN MINH")).to_be_visible()
    expect(page.get_by_role("link", name=receipt)).to_be_visible()  # in the history
    shots(page, "account-history", axe=True)


@pytest.mark.kiosk_settings(KIOSK_PAY_POLL_MS=1500)
def test_card_payment_with_live_status(page, station, sessions, shots):
    with sessions() as s:
        factories.make_account(s, number="52223333", name="LUCIA HERRERA", balance_cents=4200)
        factories.make_account(s, number="52224444", name="HERRERA TIRE SHOP", phone="7145550190")
        s.commit()
    sign_in_by_keyboard(page, station["cashier"])
    page.goto("/counter/accounts/")
    page.keyboard.type("herrera")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="2 accounts found by name")).to_be_visible()
    pay_ready(page)
    shots(page, "search-results", axe=True)
    page.keyboard.press("ArrowDown")  # HERRERA TIRE SHOP (name prefix first)
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="52223333")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="LUCIA HERRERA")).to_be_visible()
    pay_ready(page)
    page.locator("#card").fill("42.00")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    status = page.locator("#card-status")
    expect(status).to_contain_text("Waiting for")
    shots(page, "card-waiting")
    # The page polls GET /api/v1/payments/{id}; the simulated reader approves.
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    expect(page.locator(".confirm")).to_contain_text("Card $42.00")
    shots(page, "card-approved")
    with sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.account_number == "52223333"))
        assert payment.status == "succeeded" and payment.reader_id == f"simulated-{station['id']}"


@pytest.mark.kiosk_settings(PAYMENT_COUNTER_MAX_CENTS=5_000)
def test_over_limit_and_duplicate_with_the_keyboard_only(page, station, sessions, office, shots):
    """After a refusal the cursor is where the cashier types next: the supervisor's username,
    then (a wrong password) the password with the username kept; after a duplicate warning,
    "Charge anyway"."""
    with sessions() as s:
        account = factories.make_account(s, number="51230001", balance_cents=8_000)
        factories.make_bill(s, account, 8_000)
        boss = factories.make_staff(s, "supervisor", office_id=office.id)
        s.commit()
        supervisor = boss.username
    sign_in_by_keyboard(page, station["cashier"])
    page.goto("/counter/accounts/51230001")
    pay_ready(page)
    page.keyboard.press("Enter")
    page.keyboard.type("80")
    page.keyboard.press("Enter")  # $80.00 is over the $50.00 limit
    expect(page.locator("#pay-error")).to_contain_text("over the counter limit")
    pay_ready(page)
    expect(page.locator("#pay-override-username")).to_be_focused()
    page.keyboard.type(supervisor)
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    expect(page.locator("#pay-error")).to_contain_text("Supervisor approval refused")
    pay_ready(page)
    expect(page.locator("#pay-override-username")).to_have_value(supervisor)
    expect(page.locator("#pay-override-password")).to_be_focused()
    shots(page, "over-limit-wrong-password", axe=True)
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    # Nothing is owed now: a $20.00 payment would be a credit, so the cashier confirms it
    # (Enter on "Take it with $20.00 credit", where the cursor is). The same sum again a moment
    # later: the credit check, then a duplicate warning, and Enter on "Charge anyway".
    for attempt in range(2):
        page.goto("/counter/accounts/51230001")
        pay_ready(page)
        page.keyboard.press("Control+a")
        page.keyboard.type("20")
        page.keyboard.press("Enter")
        page.keyboard.type("20")
        page.keyboard.press("Enter")
        expect(page.locator("#pay-error")).to_contain_text("more than the $0.00 owed")
        pay_ready(page)
        expect(page.locator("#take-as-credit")).to_be_focused()
        if attempt == 0:
            shots(page, "credit-check", axe=True)
        page.keyboard.press("Enter")
        if attempt == 0:
            expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    expect(page.locator("#pay-error")).to_contain_text("a few minutes ago")
    pay_ready(page)
    expect(page.locator("#charge-anyway")).to_be_focused()
    shots(page, "duplicate-warning", axe=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    with sessions() as s:
        amounts = s.scalars(select(Payment.amount_cents).order_by(Payment.created_at)).all()
    assert amounts == [8_000, 2_000, 2_000]
