"""Payments to review in Chromium: a finance user opens the list from the finance navigation,
opens a completed payment the processor charged twice (localstripe and the reader stand-in,
flagged by the real recovery sweep), refunds the stray charge with the keyboard and closes the
review with a note. Screenshots at 1366x768 and 1920x1080, axe clean, no script or CSP errors."""

# Fixtures are imported from the Stripe tests, so their names are reused as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kiosk.webhooks import GATEWAY_FACTORY
from tests.e2e.conftest import axe_violations, describe
from tests.e2e.pages import VIEWS, fresh_folder, open_page, sign_in, staff_username
from tests.kiosk.test_finance_review import second_charge, sweep
from tests.payments.conftest import make_world
from tests.payments.stripe_terminal.conftest import (  # noqa: F401  (fixtures)
    _standin_server,
    gateway,
    standin,
)
from tests.payments.stripe_terminal.helpers import READER, card_payment, start

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")


def _look(page, folder, name: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"{name}: {describe(violations)}"
    for size_name, size in VIEWS.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(folder / f"{name}-{size_name}.png"), full_page=True)
    page.set_viewport_size(VIEWS["1366"])


def test_finance_refunds_the_stray_charge_and_closes(
    browser, live_server, sessions, session, office, standin, gateway
):
    live_server.app.extensions[GATEWAY_FACTORY] = lambda _session: gateway
    world = make_world(session, office)
    payment = start(session, card_payment(session, world), gateway, close=True)
    standin.present(READER)
    assert sweep(sessions, gateway).outcomes == {"completed": 1}
    stray = second_charge(standin, payment.id)
    assert sweep(sessions, gateway).unmatched == 1
    username = staff_username(sessions, office, "finance")
    folder = fresh_folder("finance_review")

    context = browser.new_context(viewport=VIEWS["1366"], base_url=live_server.url)
    page, errors = open_page(context)
    try:
        sign_in(page, username)
        page.goto("/finance/")
        page.get_by_role("link", name="Review (1)").click()
        expect(page.locator("#flagged")).to_contain_text(world.account.number)
        _look(page, folder, "list")

        page.get_by_role("link", name=f"Account {world.account.number}").click()
        row = page.locator("#charges tr.needs-action")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(stray)
        expect(page.locator("#close-blocker")).to_contain_text("not accounted for")
        _look(page, folder, "payment")

        row.get_by_role("checkbox").focus()
        page.keyboard.press("Space")
        row.get_by_role("button", name="Refund this charge to the card").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status").first).to_contain_text("Refunded $50.00")
        expect(page.locator("#charges")).to_contain_text("refunded")
        expect(page.locator("#close-effect")).to_contain_text("The payment stays complete")
        _look(page, folder, "refunded")

        page.get_by_label("What was checked or done").fill("Second tap at the kiosk; refunded.")
        page.get_by_role("button", name="Close the review").click()
        expect(page.get_by_role("status").first).to_contain_text("closed (complete)")
        expect(page.locator("#flagged")).to_contain_text("No payments are waiting for review.")
        _look(page, folder, "closed")
    finally:
        context.close()
    assert not errors, f"script errors or CSP violations: {errors}"
    assert sweep(sessions, gateway).unmatched == 0
