"""The counter queue page in Chromium at 1366x768 and 1920x1080, by keyboard: F4 calls the
next ticket (F3 queue, Alt+N call number: the one counter keymap), the list refreshes from
GET /api/v1/queue (not the page, which would count as activity and hold off the auto-lock),
the reasons and outcome are chosen without the mouse, F10 finishes the visit; no axe-core
violations. Screenshots: test-artifacts/test_counter_queue_keyboard/."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from kiosk import queue
from kiosk.auth import DEVICE_COOKIE
from kiosk.models import Visit
from kiosk.stations import pair
from tests import factories
from tests.e2e.conftest import LANDSCAPE, axe_violations, describe
from tests.e2e.pages import fresh_folder

COUNTER_VIEW = {"width": 1366, "height": 768}


def test_counter_queue_keyboard(browser, live_server, sessions, office):
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "counter", name="Counter 1")
        _, token = pair(s, code)
        cashier = factories.make_staff(s, "cashier", office_id=office.id, full_name="Ana Ruiz")
        for service, language in (("other", "vi"), ("billing", "es"), ("start_stop", "en")):
            queue.issue_ticket(s, office_id=office.id, service=service, language=language)
        s.commit()
        username = cashier.username
    folder = fresh_folder("test_counter_queue_keyboard")

    def shoot(page, name: str) -> None:
        violations = axe_violations(page)
        assert not violations, f"{name}:\n{describe(violations)}"
        page.screenshot(path=str(folder / f"{name}-1366.png"), full_page=True)
        page.set_viewport_size(LANDSCAPE)
        page.screenshot(path=str(folder / f"{name}-1920.png"), full_page=True)
        page.set_viewport_size(COUNTER_VIEW)

    context = browser.new_context(viewport=COUNTER_VIEW, base_url=live_server.url, locale="en-US")
    context.add_cookies([{"name": DEVICE_COOKIE, "value": token, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page_loads: list[str] = []
    page.on("request", lambda r: page_loads.append(r.url) if r.resource_type != "fetch" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    try:
        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/counter/queue")
        expect(page.locator("#waiting-list tbody tr")).to_have_count(3)
        expect(page.locator("#waiting-list tbody tr").first).to_contain_text("B001")
        page.wait_for_selector("body[data-shortcuts]", state="attached")
        shoot(page, "01-waiting")

        # The refresh reads the API (a GET), never the page itself.
        expect(page.locator("#waiting-list[data-live]")).to_have_count(1)
        with sessions() as s:
            queue.issue_ticket(s, office_id=office.id, service="other", language="en")
            s.commit()
        with page.expect_response(lambda r: "/api/v1/queue" in r.url) as got:
            page.evaluate("window.dispatchEvent(new Event('focus'))")
        assert got.value.request.method == "GET" and got.value.request.resource_type == "fetch"
        assert got.value.status == 200
        expect(page.locator("#waiting-list tbody tr")).to_have_count(4)
        expect(page.get_by_role("button", name="Call G002")).to_be_visible()
        expect(page.locator("#waiting-list")).to_contain_text("Vietnamese")
        assert not [u for u in page_loads if u.endswith("/counter/queue")][1:]

        page.keyboard.press("Alt+n")  # Call number
        expect(page.get_by_label("Call number")).to_be_focused()
        page.keyboard.press("F3")  # the queue: the waiting list
        expect(page.locator("section[aria-labelledby='waiting-h']")).to_be_focused()
        expect(page.locator("#keymap")).to_contain_text("F4 Call next")

        page.keyboard.press("F4")  # Call next
        expect(page.locator(".visit-panel h2")).to_contain_text("B001")
        expect(page.get_by_role("status").first).to_contain_text("Calling B001")
        expect(page.locator(".visit-panel")).to_contain_text("Speaks Spanish")
        expect(page.get_by_label("Billing question")).to_be_checked()
        page.wait_for_selector("body[data-shortcuts]", state="attached")
        shoot(page, "02-visit")

        page.get_by_label("Pay a bill").focus()
        page.keyboard.press("Space")
        page.get_by_label("Outcome").focus()
        page.keyboard.press("ArrowDown")  # the first outcome in the list
        page.get_by_label("Notes").focus()
        page.keyboard.type("Paid the November bill.")
        page.keyboard.press("F10")  # Finish visit
        expect(page.get_by_role("status").first).to_contain_text("Ticket B001 finished")
        expect(page.locator(".visit-panel h2")).to_have_text("No customer at this counter")
        expect(page.locator("#waiting-list tbody tr")).to_have_count(3)

        page.get_by_role("link", name="Today's visits").click()
        expect(page.locator("table.visit-log tbody tr")).to_have_count(1)
        expect(page.locator("table.visit-log")).to_contain_text("Pay a bill, Billing question")
        shoot(page, "03-visit-log")
        page.goto("/counter/visits/walk-in")
        page.get_by_label("Customer's language").select_option("vi")
        page.get_by_label("What goes in which cart").check()
        shoot(page, "04-walk-in")
        page.get_by_role("button", name="Start the visit").click()
        expect(page.locator(".visit-panel h2")).to_contain_text("Walk-in")
        expect(page.get_by_label("What goes in which cart")).to_be_checked()
    finally:
        context.close()
    assert not errors, f"script errors or CSP violations: {errors}"
    with sessions() as s:
        visit, walk_in = s.scalars(select(Visit).order_by(Visit.started_at)).all()
        assert walk_in.ticket_id is None and walk_in.language == "vi"
        assert visit.ended_at is not None and visit.outcome_code
        assert visit.reason_codes == "billing.pay_bill,billing.question"
        assert visit.notes == "Paid the November bill."
