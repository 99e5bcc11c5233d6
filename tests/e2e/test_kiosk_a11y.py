"""Every kiosk screen, in English, Spanish and Vietnamese, has zero axe-core violations for
WCAG 2.0/2.1/2.2 A and AA (target-size included), in portrait and landscape; screenshots of
each are saved under test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk import service_requests as sr
from kiosk.models import Account, Office
from tests.e2e.conftest import preload_axe

LANGUAGE_NAMES = {"en": "English", "es": "Español", "vi": "Tiếng Việt"}


def check(page, shots, name: str) -> None:
    """axe and screenshots: portrait in every language, landscape too in English (the
    layout does not change with the language; the flow tests shoot both orientations)."""
    shots(page, name, axe=True, landscape=page.evaluate("document.documentElement.lang") == "en")


def sizes_ok(page) -> None:
    """Touch targets at least 48x48 CSS px and text at least 20 px on the visible screen."""
    small = page.evaluate(
        """() => {
        const bad = [];
        for (const el of document.querySelectorAll('button, a[href], input, label.option')) {
          if (el.closest('[hidden], dialog:not([open])') || el.type === 'hidden') continue;
          const r = el.getBoundingClientRect();
          if (r.width === 0 && r.height === 0) continue;
          if (el.type !== 'radio' && (r.width < 48 || r.height < 48))
            bad.push('target ' + el.outerHTML.slice(0, 80));
        }
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
          const node = walker.currentNode;
          if (!node.textContent.trim()) continue;
          const el = node.parentElement;
          if (el.closest('[hidden], dialog:not([open]), .visually-hidden, svg')) continue;
          const size = parseFloat(getComputedStyle(el).fontSize);
          if (size < 20) bad.push('text ' + size + 'px: ' + node.textContent.trim().slice(0, 40));
        }
        return bad;
      }"""
    )
    assert not small, small


@pytest.mark.parametrize("lang", ["en", "es", "vi"])
def test_every_screen_is_accessible(
    lang, kiosk_page, make_account, shots, sessions, test_card, live_server
):
    page = kiosk_page
    preload_axe(page)
    number, line = make_account(house_number=77, street_name="MAIN", past_due_cents=1000)
    make_account(house_number=77, street_name="MAINE")
    with sessions() as s:
        account = s.scalar(select(Account).where(Account.number == number))
        account.last_payment_cents = 4000
        office = s.get(Office, live_server.office_id)
        request = sr.create_request(
            s, office_id=office.id, account=account, kind="bulky_item", details={"items": "2"}
        )
        reference = request.reference
        s.commit()
    page.goto("/kiosk/")
    check(page, shots, "attract")
    page.locator("form.languages").get_by_role("button", name=LANGUAGE_NAMES[lang]).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    check(page, shots, "menu")
    sizes_ok(page)
    visits = [
        "/kiosk/find",
        "/kiosk/find/number",
        "/kiosk/find/address",
        "/kiosk/find/not-found",
        "/kiosk/questions",
        "/kiosk/questions/carts",
        "/kiosk/questions/pickup-day",
        "/kiosk/status",
        f"/kiosk/status/{reference}",
        "/kiosk/ticket",
    ]
    for path in visits:
        page.goto(path)
        check(page, shots, path.strip("/").replace("/", "-"))
    # errors shown in place
    page.goto("/kiosk/find/number")
    page.locator("#number").fill("12")
    page.locator("form.entry button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, shots, "number-error")
    # address search with two matches
    page.goto("/kiosk/find/address")
    page.locator("#house").fill("77")
    page.locator("form.entry button[type=submit]").click()
    check(page, shots, "street")
    sizes_ok(page)
    page.locator("#street").fill("MAIN")
    page.locator("form.entry button[type=submit]").click()
    check(page, shots, "results")
    # the account and its screens
    page.wait_for_selector("body[data-ready]", state="attached")
    page.keyboard.type(line)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/kiosk/account$"))
    check(page, shots, "account")
    sizes_ok(page)
    for path in ["/kiosk/account/amount", "/kiosk/service", "/kiosk/service/cart_exchange"]:
        page.goto(path)
        check(page, shots, path.strip("/").replace("/", "-"))
    page.locator("form.entry button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, shots, "service-error")
    page.goto("/kiosk/service/bulky_item")
    page.locator("label.option").first.click()
    page.locator("form.entry button[type=submit]").click()
    page.wait_for_url(re.compile("/kiosk/service/done/"))
    check(page, shots, "service-done")
    # paying: waiting for the card, declined, approved, email
    test_card("reader_timeout")
    page.goto("/kiosk/account")
    page.locator("form[action$='/pay/due'] button").click()
    expect(page.locator('[data-state="waiting"]')).to_be_visible()
    check(page, shots, "pay-waiting")
    page.locator("#pay-cancel").click()
    page.wait_for_url(re.compile("/kiosk/account$"))
    test_card("insufficient_funds")
    page.locator("form[action$='/pay/due'] button").click()
    expect(page.locator('[data-state="declined"]')).to_be_visible()
    check(page, shots, "pay-declined")
    test_card("approve")
    page.locator(".after-fail button").click()
    page.wait_for_url(re.compile("/kiosk/paid/"))
    check(page, shots, "paid")
    page.locator(".choices a").first.click()
    page.wait_for_url(re.compile("/email$"))
    check(page, shots, "email")
    sizes_ok(page)
    page.goto("/kiosk/ticket")
    page.locator("form.choices button").first.click()
    page.wait_for_url(re.compile("/kiosk/ticket/done$"))
    check(page, shots, "ticket-done")
    # the large-text / high-contrast switch
    page.locator(".display-switch button").click()
    expect(page.locator("html.big")).to_have_count(1)
    check(page, shots, "ticket-done-large")


def test_the_axe_check_does_catch_problems(kiosk_page):
    """Guard against a silently empty check: a button without a name must be reported."""
    from tests.e2e.conftest import axe_violations

    page = kiosk_page
    page.goto("/kiosk/")
    page.evaluate(
        """() => {
        const b = document.createElement('button');
        document.querySelector('main').appendChild(b);
      }"""
    )
    ids = {v["id"] for v in axe_violations(page)}
    assert "button-name" in ids
