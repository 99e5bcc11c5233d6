"""The performance-measures dashboard in Chromium: screenshots at 1366x768 and 1920x1080, axe
clean, no script or CSP errors, and the period picker works from the keyboard."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, CHROMIUM_ARGS, axe_violations, describe  # noqa: F401
from tests.e2e.pages import VIEWS, fresh_folder, open_page, sign_in, staff_username
from tests.kiosk import measures_data as data
from tests.kiosk.measures_data import DAY


def test_dashboard_looks_right_and_is_accessible(browser, live_server, sessions, office):
    with sessions() as s:
        data.build_day(s, s.merge(office))
        s.commit()
    username = staff_username(sessions, office, "finance")
    folder = fresh_folder("measures_dashboard")

    context = browser.new_context(viewport=VIEWS["1366"], base_url=live_server.url)
    page, errors = open_page(context)
    try:
        sign_in(page, username)
        page.goto(f"/finance/measures?period=day&date={DAY.isoformat()}")
        expect(page.locator("h1")).to_contain_text("Performance measures")
        expect(page.locator("svg[role=img]")).to_have_count(2)
        violations = axe_violations(page)
        assert not violations, describe(violations)
        for name, size in VIEWS.items():
            page.set_viewport_size(size)
            page.screenshot(path=str(folder / f"day-{name}.png"), full_page=True)

        # keyboard: choose "Week" in the period picker and submit
        page.focus("#period")
        page.select_option("#period", "week")
        page.focus("#date")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"period=week"))
        expect(page.locator(".period-nav strong")).to_contain_text("Week 2026-W47")
        page.screenshot(path=str(folder / "week-1920.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"script errors or CSP violations: {errors}"
