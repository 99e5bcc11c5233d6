"""A cashier's day at the counter in a real browser (Chromium at 1366x768, screenshots also at
1920x1080): sign in at a paired counter station, open the drawer, serve a kiosk ticket, take
a split payment, void with a supervisor, log the visit, take a cash payment with change and a
card payment on the station's simulated reader, close the drawer blind (balanced); and a
shortage over the tolerance approved by a supervisor typed on the cashier's screen.

The receipt printer is a real socket on 127.0.0.1 (tests/hardware/loopback.py)."""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk import queue
from kiosk.auth import DEVICE_COOKIE
from kiosk.models import QueueTicket, StaffUser, Visit
from kiosk.stations import pair
from payments import drawer as drawers
from payments.audit import AuditEvent
from payments.models import DrawerSession, Payment
from tests import factories
from tests.e2e.conftest import ARTIFACTS, axe_violations, describe
from tests.e2e.pages import open_page
from tests.hardware.loopback import ONLINE, LoopbackPrinter

COUNTER_VIEW = {"width": 1366, "height": 768}
WIDE_VIEW = {"width": 1920, "height": 1080}


@dataclass
class Counter:
    station_id: int
    token: str
    printer: LoopbackPrinter
    cashier: str
    cashier_id: int
    cashier_name: str
    supervisor: str
    supervisor_name: str


@pytest.fixture
def counter(live_server, sessions, office):
    """A counter station with a receipt printer on loopback, a cashier and a supervisor."""
    printer = LoopbackPrinter(ONLINE)
    with sessions() as s:
        station, code = factories.make_station(
            s, s.merge(office), "counter", name="Counter 2", printer_url=printer.url
        )
        _, token = pair(s, code)
        cashier = factories.make_staff(s, "cashier", full_name="Maria Lopez", office_id=office.id)
        supervisor = factories.make_staff(
            s, "supervisor", full_name="Dana Whitfield", office_id=office.id
        )
        s.commit()
        yield Counter(
            station.id,
            token,
            printer,
            cashier.username,
            cashier.id,
            cashier.full_name,
            supervisor.username,
            supervisor.full_name,
        )
    printer.close()


@pytest.fixture
def counter_page(browser, live_server, counter):
    """The counter station's browser: paired (device cookie), nobody signed in yet."""
    context = browser.new_context(viewport=COUNTER_VIEW, base_url=live_server.url, locale="en-US")
    context.add_cookies([{"name": DEVICE_COOKIE, "value": counter.token, "url": live_server.url}])
    page, errors = open_page(context)
    yield page
    context.close()
    assert not errors, f"script errors or CSP violations: {errors}"


class Shots:
    """Screenshots at the counter's 1366x768 and at 1920x1080, optionally with axe."""

    def __init__(self, name: str):
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.count = 0

    def __call__(self, page, name: str, *, axe: bool = False) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        stem = f"{self.count:02d}-{name}"
        if axe:
            violations = axe_violations(page)
            assert not violations, f"{stem} at {page.url}:\n{describe(violations)}"
        page.screenshot(path=str(self.folder / f"{stem}-1366.png"), full_page=True)
        page.set_viewport_size(WIDE_VIEW)
        page.screenshot(path=str(self.folder / f"{stem}-1920.png"), full_page=True)
        page.set_viewport_size(COUNTER_VIEW)


@pytest.fixture
def counter_shots(request):
    return Shots(request.node.name)


def sign_in(page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def shortcuts_ready(page) -> None:
    page.wait_for_selector("body[data-shortcuts]", state="attached")


def kiosk_ticket(sessions, office_id: int, service: str = "billing", language: str = "es") -> str:
    with sessions() as s:
        issued = queue.issue_ticket(s, office_id=office_id, service=service, language=language)
        s.commit()
        return issued.number


def test_hub_shows_station_cashier_drawer_and_queue(
    counter_page, counter, live_server, sessions, counter_shots
):
    page = counter_page
    number = kiosk_ticket(sessions, live_server.office_id)
    kiosk_ticket(sessions, live_server.office_id, service="other", language="vi")
    sign_in(page, counter.cashier)
    expect(page).to_have_url(re.compile(r"/counter/$"))
    expect(page.get_by_role("heading", name="Counter 2", exact=True)).to_be_visible()
    expect(page.locator(".hub-who")).to_contain_text(counter.cashier_name)
    expect(page.locator(".hub-drawer .status")).to_have_text("Closed")
    expect(page.locator(".hub-waiting")).to_contain_text("2 people waiting")
    expect(page.locator(".hub-printer .status")).to_have_text("Printer ready")
    assert number.startswith("B")
    counter_shots(page, "hub", axe=True)

    # A kiosk hands out another ticket: the hub's summary catches up without a reload.
    page.wait_for_selector(".hub-queue[data-live]", state="attached")
    kiosk_ticket(sessions, live_server.office_id, service="start_stop", language="en")
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(page.locator(".hub-waiting")).to_contain_text("3 people waiting")
    expect(page.get_by_role("button", name=re.compile("Call next"))).to_have_class(
        re.compile("primary")
    )


def audit_entries(sessions, entity_id: str) -> list[tuple[str, str, dict]]:
    with sessions() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == entity_id).order_by(AuditEvent.seq)
        ).all()
        return [(r.action, r.actor, json.loads(r.details or "{}")) for r in rows]


def wait_printed(printer: LoopbackPrinter, text: str, deadline_s: float = 10) -> bool:
    """Wait until ``text`` reached the printer (a readiness wait, not a timing check)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if text.encode() in printer.received:
            return True
        time.sleep(0.05)
    return False


def fill_counts(page, grid: str, counts: dict[str, int]) -> None:
    for name, pieces in counts.items():
        page.locator(f"#{grid}-{name}").fill(str(pieces))


def test_a_cashiers_day(counter_page, counter, live_server, sessions, make_account, counter_shots):
    page, shots = counter_page, counter_shots
    number, scanline = make_account(balance_cents=8450)
    ticket = kiosk_ticket(sessions, live_server.office_id, service="billing", language="es")

    # Sign in: the counter hub, drawer closed, one ticket waiting.
    sign_in(page, counter.cashier)
    expect(page.locator(".hub-drawer .status")).to_have_text("Closed")
    expect(page.locator(".hub-waiting")).to_contain_text("1 person waiting")
    shortcuts_ready(page)

    # Open the drawer with a $125.00 float counted by denomination (F6 from the hub).
    page.keyboard.press("F6")
    expect(page.get_by_role("heading", name=re.compile("Open the cash drawer"))).to_be_visible()
    fill_counts(page, "float", {"bill_20": 5, "bill_5": 4, "coin_25": 20})
    expect(page.locator("#float output[data-total]")).to_have_text("$125.00")
    shots(page, "drawer-open-float")
    page.get_by_role("button", name="Open the drawer").click()
    expect(page.get_by_role("heading", name=re.compile("Cash drawer"))).to_be_visible()
    # Times on the office's clock (America/Los_Angeles), like the business day beside them.
    expect(page.locator(".status")).to_have_text(
        re.compile(r"Open since \d{1,2}:\d\d [AP]M, business day \d{4}-\d\d-\d\d")
    )
    expect(page.locator("main")).not_to_contain_text("UTC")
    shots(page, "drawer-opened")

    # Back at the hub from the drawer page itself; call the kiosk ticket with F4.
    page.get_by_role("main").get_by_role("link", name="Back to the counter").click()
    expect(page.locator(".hub-drawer .status")).to_contain_text("Open")
    shortcuts_ready(page)
    shots(page, "hub-drawer-open", axe=True)
    page.keyboard.press("F4")
    expect(page.get_by_text(f"Calling {ticket}")).to_be_visible()
    expect(page.locator("#visit-h")).to_contain_text(ticket)
    shots(page, "queue-called")

    # Find the account by scanning the customer's bill into the hub's search box.
    page.goto("/counter/")
    expect(page.locator(".hub-serving .ticket")).to_have_text(ticket)
    shots(page, "hub-now-serving")
    shortcuts_ready(page)
    page.keyboard.press("F2")
    page.keyboard.type(scanline)
    page.keyboard.press("Enter")
    expect(page.locator(".acct-number")).to_have_text(number)
    expect(page.locator("#amount")).to_have_value("84.50")

    # A split payment: $60.00 cash and a $34.50 check; $10.00 change comes out of the cash.
    page.locator("#cash").fill("60.00")
    page.locator("#check").fill("34.50")
    page.locator("#check_number").fill("1047")
    expect(page.locator("#change")).to_have_text("$10.00")
    shots(page, "split-payment")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    expect(page.locator("#change-due")).to_have_text("$10.00")
    split_receipt = page.locator(".receipt-number").inner_text()
    shots(page, "split-paid")

    # A second cash payment the customer did not mean to make: voided with a supervisor
    # typing their own credentials on the cashier's screen.
    page.goto(f"/counter/accounts/{number}")
    page.locator("#amount").fill("25.00")
    page.locator("#cash").fill("30.00")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    # Nothing is owed any more: the amount is checked before it becomes a credit.
    expect(page.locator("#pay-error")).to_contain_text("$25.00 more than the $0.00 owed")
    page.get_by_role("button", name="Take it with $25.00 credit").click()
    expect(page.locator("#change-due")).to_have_text("$5.00")
    voided_receipt = page.locator(".receipt-number").inner_text()
    page.get_by_role("link", name=re.compile("Void")).click()
    page.get_by_label("Reason").fill("Customer paid twice by mistake")
    page.get_by_label("Supervisor username").fill(counter.supervisor)
    page.get_by_label("Supervisor password").fill(factories.PASSWORD)
    shots(page, "void-override")
    page.get_by_role("button", name=re.compile(r"Void \$25\.00")).click()
    expect(page.get_by_text("This payment is void.")).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Voided")
    expect(facts).to_contain_text("Cash $30.00")

    # The hub lists both receipts, the void one marked; the visit is still open.
    page.goto("/counter/")
    recent = page.locator(".hub-recent")
    expect(recent.locator("tr.void")).to_contain_text(voided_receipt)
    expect(recent).to_contain_text(split_receipt)
    expect(page.get_by_role("button", name=re.compile("Call next"))).not_to_have_class(
        re.compile("primary")
    )
    shots(page, "hub-serving-receipts", axe=True)
    page.get_by_role("link", name="Log the visit and finish").click()

    # Log the visit: reasons and outcome from the shared vocabulary, then finish.
    panel = page.locator(".visit-panel")
    expect(panel.locator("#visit-h")).to_contain_text(ticket)
    panel.get_by_label("Pay a bill").check()
    panel.get_by_label("Outcome").select_option("paid")
    panel.get_by_label(re.compile("Notes")).fill("Paid by cash and check; duplicate voided.")
    shots(page, "visit-log")
    panel.get_by_role("button", name=re.compile("Finish visit")).click()
    expect(page.get_by_text(f"Ticket {ticket} finished")).to_be_visible()

    # The next customer, a walk-in: $42.10 paid with a $50 bill, $7.90 change.
    cash_number, _ = make_account(balance_cents=4210)
    page.goto(f"/counter/accounts/{cash_number}")
    expect(page.locator("#amount")).to_have_value("42.10")
    page.locator("#cash").fill("50.00")
    expect(page.locator("#change")).to_have_text("$7.90")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    expect(page.locator("#change-due")).to_have_text("$7.90")
    cash_receipt = page.locator(".receipt-number").inner_text()

    # Then a card: the station's simulated reader approves; the page follows its status.
    card_number, _ = make_account(balance_cents=6175)
    page.goto(f"/counter/accounts/{card_number}")
    expect(page.locator("#amount")).to_have_value("61.75")
    page.locator("#card").fill("61.75")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    expect(page.locator("#card-status")).to_contain_text("Waiting for")
    expect(page.get_by_role("heading", name="Payment taken")).to_be_visible()
    expect(page.locator(".confirm")).to_contain_text("Card $61.75")
    card_receipt = page.locator(".receipt-number").inner_text()
    shots(page, "card-paid")

    # Close the drawer blind: $217.10 in cash (125 + 60 - 10 + 50 - 7.90; the card is not
    # cash) and the one check.
    page.goto("/counter/drawer/")
    page.get_by_role("link", name=re.compile("Close the drawer")).click()
    expect(page.get_by_role("heading", name=re.compile("blind count"))).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("217.10")  # no expected figure first
    fill_counts(
        page,
        "close",
        {"bill_100": 1, "bill_50": 1, "bill_20": 3, "bill_5": 1, "bill_1": 2, "coin_10": 1},
    )
    expect(page.locator("#close output[data-total]")).to_have_text("$217.10")
    page.get_by_label(re.compile("check 1047 is in the drawer")).check()
    shots(page, "drawer-blind-count")
    page.get_by_role("button", name=re.compile("Submit the count")).click()
    expect(page.locator(".status")).to_contain_text("Balanced to the cent")
    # The next step leads: back to the counter or sign out; reopening is secondary.
    expect(page.get_by_role("link", name="Back to the counter")).to_have_class(
        re.compile(r"\bprimary\b")
    )
    expect(page.get_by_role("button", name="Sign out").last).to_have_class(
        re.compile(r"\bprimary\b")
    )
    expect(page.get_by_role("button", name="Reopen the drawer")).not_to_have_class(
        re.compile(r"\bprimary\b")
    )
    shots(page, "drawer-balanced", axe=True)
    page.get_by_role("link", name="Back to the counter").click()
    expect(page.locator(".hub-drawer .status")).to_have_text("Closed")

    # The records behind the screens.
    with sessions() as s:
        drawer = s.scalars(
            select(DrawerSession).where(DrawerSession.station_id == counter.station_id)
        ).one()
        assert drawer.status == "closed"
        assert (drawer.float_cents, drawer.expected_cents, drawer.counted_cents) == (
            12_500,
            21_710,
            21_710,
        )
        assert not drawer.approval_required and drawer.approved_by_id is None
        assert drawer.over_short_cents == 0
        assert (drawer.checks_counted_count, drawer.checks_counted_cents) == (1, 3_450)

        split = s.scalars(select(Payment).where(Payment.receipt_number == split_receipt)).one()
        assert split.status == "succeeded" and split.change_cents == 1_000
        tenders = sorted((t.kind, t.amount_cents, t.reference) for t in split.tenders)
        assert tenders == [("cash", 6_000, None), ("check", 3_450, "1047")]
        voided = s.scalars(select(Payment).where(Payment.receipt_number == voided_receipt)).one()
        assert voided.status == "voided"
        cash = s.scalars(select(Payment).where(Payment.receipt_number == cash_receipt)).one()
        assert (cash.account_number, cash.status, cash.change_cents) == (
            cash_number,
            "succeeded",
            790,
        )
        assert [(t.kind, t.amount_cents) for t in cash.tenders] == [("cash", 5_000)]
        card = s.scalars(select(Payment).where(Payment.receipt_number == card_receipt)).one()
        assert (card.account_number, card.status, card.change_cents) == (
            card_number,
            "succeeded",
            0,
        )
        assert card.reader_id == f"simulated-{counter.station_id}"
        assert [(t.kind, t.amount_cents) for t in card.tenders] == [("card", 6_175)]
        for p in (split, voided, cash):  # the cash ones belong to the drawer
            assert p.drawer_session_id == drawer.id, p.receipt_number

        t = s.scalars(select(QueueTicket).where(QueueTicket.number == ticket)).one()
        visit = s.scalars(select(Visit).where(Visit.ticket_id == t.id)).one()
        assert "billing.pay_bill" in visit.reason_codes.split(",")
        assert visit.outcome_code == "paid"
        assert visit.channel == "counter" and visit.station_id == counter.station_id
        assert visit.called_at is not None and visit.ended_at is not None
        assert visit.called_at <= visit.started_at <= visit.ended_at or (
            visit.started_at <= visit.called_at <= visit.ended_at
        )
        assert t.status == "done"

    void_entries = audit_entries(sessions, voided.id)
    actors = {actor for _action, actor, _details in void_entries}
    assert {counter.cashier, counter.supervisor} <= actors, void_entries

    assert wait_printed(counter.printer, split_receipt), "the split payment's receipt"
    assert wait_printed(counter.printer, voided_receipt), "the voided payment's receipt"
    assert wait_printed(counter.printer, cash_receipt), "the cash payment's receipt"
    assert wait_printed(counter.printer, card_receipt), "the card payment's receipt"


def test_overage_within_the_tolerance_closes_without_a_supervisor(
    counter_page, counter, live_server, sessions, counter_shots
):
    page = counter_page
    with sessions() as s:
        drawers.open_drawer(
            s,
            office_id=live_server.office_id,
            station_id=counter.station_id,
            cashier_id=counter.cashier_id,
            counts={"bill_20": 5},
            actor=counter.cashier,
        )
        s.commit()
    sign_in(page, counter.cashier)
    expect(page.locator(".hub-drawer .status")).to_have_text("Open")
    expect(page.locator(".hub-drawer")).to_contain_text("float $100.00")
    shortcuts_ready(page)
    page.keyboard.press("F6")
    page.get_by_role("link", name=re.compile("Close the drawer")).click()
    fill_counts(page, "close", {"bill_20": 5, "bill_1": 2})  # two dollars nobody rang up
    page.get_by_role("button", name=re.compile("Submit the count")).click()
    expect(page.locator(".status")).to_contain_text("Over by $2.00")
    expect(page.locator(".status")).not_to_contain_text("needs a supervisor")
    counter_shots(page, "drawer-over")
    page.goto("/counter/")
    expect(page.locator(".hub-drawer .status")).to_have_text("Closed")
    with sessions() as s:
        drawer = s.scalars(select(DrawerSession)).one()
        assert (drawer.expected_cents, drawer.counted_cents) == (10_000, 10_200)
        assert drawer.over_short_cents == 200 and drawer.approved_by_id is None


def test_a_shortage_over_the_tolerance_needs_a_supervisor_on_the_cashiers_screen(
    counter_page, counter, live_server, sessions, make_account, counter_shots
):
    """Another day at the same counter: a cash payment with change, then the blind count comes
    up $20.00 short (over the $5.00 tolerance); a supervisor types their own credentials on the
    cashier's screen to approve it, after a wrong password is refused."""
    page, shots = counter_page, counter_shots
    number, _ = make_account(balance_cents=3115)
    with sessions() as s:
        drawers.open_drawer(
            s,
            office_id=live_server.office_id,
            station_id=counter.station_id,
            cashier_id=counter.cashier_id,
            counts={"bill_20": 5},
            actor=counter.cashier,
        )
        s.commit()
    sign_in(page, counter.cashier)
    expect(page.locator(".hub-drawer .status")).to_have_text("Open")

    # $31.15 paid with two twenties: $8.85 change.
    page.goto(f"/counter/accounts/{number}")
    expect(page.locator("#amount")).to_have_value("31.15")
    page.locator("#cash").fill("40.00")
    expect(page.locator("#change")).to_have_text("$8.85")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    expect(page.locator("#change-due")).to_have_text("$8.85")
    receipt = page.locator(".receipt-number").inner_text()

    # Expected $131.15 (100 + 40 - 8.85); the cashier counts $111.15: $20.00 short.
    page.goto("/counter/drawer/")
    page.get_by_role("link", name=re.compile("Close the drawer")).click()
    expect(page.locator("main")).not_to_contain_text("131.15")
    fill_counts(page, "close", {"bill_20": 5, "bill_10": 1, "bill_1": 1, "coin_10": 1, "coin_5": 1})
    expect(page.locator("#close output[data-total]")).to_have_text("$111.15")
    page.get_by_role("button", name=re.compile("Submit the count")).click()
    status = page.locator("#result-title + .status")
    expect(status).to_contain_text("Short by $20.00")
    expect(status).to_contain_text("needs a supervisor's approval")
    # Until approved, the approval is the next step; the counter and sign-out are secondary.
    expect(page.get_by_role("link", name="Back to the counter")).not_to_have_class(
        re.compile(r"\bprimary\b")
    )
    approve = page.locator("form[action$='/approve']")
    shots(page, "drawer-short-needs-approval", axe=True)

    # A wrong password is refused and changes nothing.
    approve.get_by_label("Supervisor username").fill(counter.supervisor)
    approve.get_by_label("Supervisor password").fill("not-the-password")
    approve.get_by_role("button", name="Approve the over/short").click()
    expect(page.get_by_role("alert")).to_be_visible()
    with sessions() as s:
        drawer = s.scalars(select(DrawerSession)).one()
        assert drawer.approval_required and drawer.approved_by_id is None

    # The supervisor types their own credentials on the cashier's screen.
    approve = page.locator("form[action$='/approve']")
    approve.get_by_label(re.compile("Note")).fill("Recounted together; $20 bill missing")
    approve.get_by_label("Supervisor username").fill(counter.supervisor)
    approve.get_by_label("Supervisor password").fill(factories.PASSWORD)
    approve.get_by_role("button", name="Approve the over/short").click()
    status = page.locator("#result-title + .status")
    expect(status).to_contain_text(f"approved by {counter.supervisor_name}")
    expect(page.locator("form[action$='/approve']")).to_have_count(0)
    expect(page.get_by_role("link", name="Back to the counter")).to_have_class(
        re.compile(r"\bprimary\b")
    )
    shots(page, "drawer-short-approved", axe=True)
    page.get_by_role("link", name="Back to the counter").click()
    expect(page.locator(".hub-drawer .status")).to_have_text("Closed")

    with sessions() as s:
        drawer = s.scalars(select(DrawerSession)).one()
        assert drawer.status == "closed"
        assert (drawer.float_cents, drawer.expected_cents, drawer.counted_cents) == (
            10_000,
            13_115,
            11_115,
        )
        assert drawer.over_short_cents == -2_000 and drawer.approval_required
        supervisor_id = s.scalars(
            select(StaffUser.id).where(StaffUser.username == counter.supervisor)
        ).one()
        assert drawer.approved_by_id == supervisor_id
        payment = s.scalars(select(Payment).where(Payment.receipt_number == receipt)).one()
        assert (payment.status, payment.change_cents, payment.drawer_session_id) == (
            "succeeded",
            885,
            drawer.id,
        )
    with sessions() as s:
        entries = [
            (e.action, e.actor, json.loads(e.details or "{}"))
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity == "drawer", AuditEvent.entity_id == str(drawer.id))
                .order_by(AuditEvent.seq)
            )
        ]
    actions = [(action, actor) for action, actor, _d in entries]
    assert actions[-4:] == [
        ("drawer.closed", counter.cashier),
        ("override.refused", counter.cashier),
        ("override.approved", counter.supervisor),
        ("drawer.approved", counter.cashier),
    ], entries
    assert entries[-1][2]["supervisor_id"] == supervisor_id
    assert entries[-1][2]["over_short_cents"] == -2_000
