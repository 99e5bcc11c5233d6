"""The finance business day screen in Chromium: screenshots at 1366x768 and 1920x1080, axe
clean, no script or CSP errors, and "Begin closing" shows the checklist of what holds the day."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import axe_violations, describe
from tests.e2e.pages import VIEWS, fresh_folder, open_page, sign_in, staff_username
from tests.kiosk.test_finance_day import _day_with_payments_and_an_open_drawer


def test_day_screen_looks_right_and_is_accessible(browser, live_server, sessions, office):
    _day_with_payments_and_an_open_drawer(sessions, office)
    username = staff_username(sessions, office, "finance")
    folder = fresh_folder("finance_day")

    context = browser.new_context(viewport=VIEWS["1366"], base_url=live_server.url)
    page, errors = open_page(context)
    try:
        sign_in(page, username)
        page.goto("/finance/day")
        expect(page.locator("#day-status")).to_have_text("open")
        page.get_by_role("button", name="Begin closing").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#day-status")).to_have_text("closing")
        expect(page.locator("#blockers")).to_contain_text("1 cash drawer still open")
        violations = axe_violations(page)
        assert not violations, describe(violations)
        for name, size in VIEWS.items():
            page.set_viewport_size(size)
            page.screenshot(path=str(folder / f"day-{name}.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"script errors or CSP violations: {errors}"
