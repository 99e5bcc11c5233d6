"""Touching the kiosk's on-screen keypads and keyboards the way a customer does.

The keys are wired up by the page's deferred script. A click that lands between the page
arriving and the script running is lost (a real customer's first tap would be too, but
only a test is that fast), so every helper first waits for the script's ready mark.
"""

from __future__ import annotations


def ready(page) -> None:
    """Wait until kiosk.js has wired up this page."""
    page.wait_for_selector("body[data-ready]", state="attached")


def press(page, keys: str, area: str = ".keypad") -> None:
    """Touch each key of ``keys`` in turn on the keypad or keyboard ``area``."""
    ready(page)
    for key in keys:
        name = "Space" if key == " " else key
        page.locator(area).get_by_role("button", name=name, exact=True).click()


def press_key(page, name: str, area: str = ".keyboard") -> None:
    """Touch one named key (``@gmail.com``, ``.com``, ``Delete``...)."""
    ready(page)
    page.locator(area).get_by_role("button", name=name, exact=True).click()
