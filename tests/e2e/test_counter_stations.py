"""Counter stations in use, in Chromium at the counter's 1366x768 (screenshots also at
1920x1080): a supervisor at another desk opens the list from the hub, frees a held station
with the keyboard, and the cashier there is sent to sign in again."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from kiosk.auth import DEVICE_COOKIE
from kiosk.stations import pair
from tests import factories
from tests.e2e.pages import open_page, sign_in
from tests.e2e.test_counter_drawer import COUNTER_VIEW, Shots


def _counter(browser, live_server, token: str | None):
    context = browser.new_context(viewport=COUNTER_VIEW, base_url=live_server.url, locale="en-US")
    if token is not None:
        context.add_cookies([{"name": DEVICE_COOKIE, "value": token, "url": live_server.url}])
    page, errors = open_page(context)
    return context, page, errors


def test_a_supervisor_frees_a_held_station(browser, live_server, sessions, office):
    with sessions() as s:
        o = s.merge(office)
        tokens = []
        for name in ("Counter 1", "Counter 2"):
            _, code = factories.make_station(s, o, "counter", name=name)
            tokens.append(pair(s, code)[1])
        rosa = factories.make_staff(s, "cashier", full_name="Rosa Diaz", office_id=o.id)
        minh = factories.make_staff(s, "cashier", full_name="Minh Tran", office_id=o.id)
        boss = factories.make_staff(s, "supervisor", full_name="Ana Ruiz", office_id=o.id)
        s.commit()
    shots = Shots("test_counter_stations")
    opened = []
    try:
        for token, user in ((tokens[0], rosa), (tokens[1], minh)):
            context, page, errors = _counter(browser, live_server, token)
            opened.append((context, errors))
            sign_in(page, user.username)
            expect(page.locator(".hub-station")).to_be_visible()
            if user is rosa:
                rosa_page = page
        rosa_page.keyboard.press("Alt+l")  # Rosa goes on a break
        expect(rosa_page.get_by_role("heading", name="Counter locked")).to_be_visible()

        context, page, errors = _counter(browser, live_server, None)  # an unpaired desk
        opened.append((context, errors))
        sign_in(page, boss.username)
        page.goto("/counter/")
        shots(page, "hub")
        page.get_by_role("link", name="Counter stations in use").click()
        expect(page.get_by_role("heading", name="Counter stations in use")).to_be_visible()
        rows = page.locator("table.stations tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Rosa Diaz")
        expect(rows.nth(0)).to_contain_text("Locked since")
        expect(rows.nth(1)).to_contain_text("Minh Tran")
        expect(rows.nth(1)).to_contain_text("Active")
        shots(page, "stations-in-use", axe=True)

        free = page.get_by_role("button", name=re.compile(r"Free this station \(Counter 1"))
        free.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Counter 1 is free")
        expect(rows).to_have_count(1)
        shots(page, "freed", axe=True)

        rosa_page.goto("/counter/")
        expect(rosa_page).to_have_url(re.compile(r"/login$"))
        expect(rosa_page.get_by_role("status")).to_contain_text(
            "A supervisor released this station. Sign in again."
        )
    finally:
        for context, _ in opened:
            context.close()
    for _, errors in opened:
        assert not errors, f"script errors or CSP violations: {errors}"
