"""The finance pages a clerk walks after the counter closes, in Chromium at 1366x768 and
1920x1080: the deposit slip (the float fields open when the count does not hold the float),
the audit log on the office clock and the card reconciliation; axe clean, no script or CSP
error, and no table wider than the page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import axe_violations, describe
from tests.e2e.pages import VIEWS, fresh_folder, open_page, sign_in, staff_username
from tests.kiosk.test_finance_pages_read import _drawer_day

PAGES = ("/finance/deposit", "/finance/audit", "/finance/reconciliation/", "/finance/day")


def test_finance_pages_fit_both_screens(browser, live_server, sessions, office):
    _drawer_day(sessions, office, close_counts={"bill_10": 11, "bill_5": 2})
    username = staff_username(sessions, office, "finance")
    folder = fresh_folder("finance_pages_walk")

    context = browser.new_context(viewport=VIEWS["1366"], base_url=live_server.url)
    page, errors = open_page(context, every_console_error=True)
    try:
        sign_in(page, username)
        for path in PAGES:
            page.goto(path)
            if path == "/finance/deposit":
                expect(page.locator("#float-retained")).to_have_attribute("open", "")
                expect(page.locator("#float-bill_20")).to_be_visible()
            if path == "/finance/audit":
                expect(page.locator("table.audit thead")).to_contain_text("When (office time)")
            violations = axe_violations(page)
            assert not violations, f"{path}: {describe(violations)}"
            for name, size in VIEWS.items():
                page.set_viewport_size(size)
                wide = page.evaluate("document.documentElement.scrollWidth > innerWidth")
                assert not wide, f"{path} scrolls sideways at {name}"
                stem = path.strip("/").replace("/", "-")
                page.screenshot(path=str(folder / f"{stem}-{name}.png"), full_page=True)
            page.set_viewport_size(VIEWS["1366"])
    finally:
        context.close()
    assert not errors, f"script errors or CSP violations: {errors}"
