"""The lobby's "now serving" screen in Chromium at 1920x1080: numbers and counter names in big
type, every label in English, Spanish and Vietnamese, refreshing itself when a counter calls
the next number; no axe-core violations. Screenshot: test-artifacts/test_lobby_now_serving/."""

from __future__ import annotations

from playwright.sync_api import expect

from kiosk import queue
from tests import factories
from tests.e2e.conftest import LANDSCAPE, axe_violations, describe
from tests.e2e.pages import fresh_folder, open_page


def test_lobby_now_serving(browser, live_server, sessions, office):
    with sessions() as s:
        office_row = s.merge(office)
        station, _ = factories.make_station(s, office_row, "counter", name="Counter 1")
        cashier = factories.make_staff(s, "cashier", office_id=office.id)
        s.flush()
        who = queue.Counter(office.id, station.id, cashier.id, cashier.username)
        for service, language in (("billing", "es"), ("other", "vi"), ("billing", "en")):
            queue.issue_ticket(s, office_id=office.id, service=service, language=language)
        queue.call_next(s, who)  # B001 at Counter 1
        s.commit()

    folder = fresh_folder("test_lobby_now_serving")
    context = browser.new_context(viewport=LANDSCAPE, base_url=live_server.url, locale="en-US")
    page, errors = open_page(context, every_console_error=True)
    try:
        page.goto("/lobby/now-serving")  # nobody signed in: a plain lobby browser
        serving = page.locator("#serving")
        expect(serving.locator("tr").first).to_contain_text("B001")
        expect(serving.locator("tr").first).to_contain_text("Counter 1")
        expect(page.locator("#next li")).to_have_text(["B002", "G001"])
        for label in ("Now serving", "Atendiendo a", "Đang phục vụ", "Quầy", "Ventanilla"):
            expect(page.get_by_text(label, exact=True).first).to_be_visible()
        # Readable across the room: the numbers are big.
        size = page.eval_on_selector("#serving td.number", "e => getComputedStyle(e).fontSize")
        assert float(size.rstrip("px")) >= 60, size
        violations = axe_violations(page)
        assert not violations, describe(violations)
        page.screenshot(path=str(folder / "01-now-serving-1920x1080.png"))

        # A counter finishes and calls the next number: the screen picks it up by itself.
        with sessions() as s:
            visit = queue.current_visit(s, station.id)
            queue.finish(s, who, visit.id, reasons=["billing.pay_bill"], outcome="paid")
            queue.call_next(s, who)
            s.commit()
        expect(serving.locator("tr").first).to_contain_text("B002", timeout=15_000)
        expect(serving.locator("tr")).to_have_count(1)
        expect(page.locator("#next li")).to_have_text(["G001"])
        page.screenshot(path=str(folder / "02-next-called-1920x1080.png"))
    finally:
        context.close()
    assert not errors, f"script errors or CSP violations: {errors}"
