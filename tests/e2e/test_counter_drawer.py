"""The drawer screens in Chromium at the counter's 1366x768 (screenshots also at 1920x1080):
open with a float counted by denomination (live total), a drop with a reason, a blind close
short beyond the tolerance, and a supervisor's approval typed on the cashier's screen. Then
the Lock button (Alt+L) and the PIN."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk.auth import DEVICE_COOKIE
from kiosk.models import StaffUser, Station
from kiosk.stations import pair
from payments import drawer as drawers
from payments.models import DrawerSession
from tests import factories
from tests.e2e.conftest import ARTIFACTS, axe_violations, describe

COUNTER_VIEW = {"width": 1366, "height": 768}
WIDE_VIEW = {"width": 1920, "height": 1080}


@pytest.fixture
def station(live_server, sessions, office):
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "counter", name="Counter 3")
        _, token = pair(s, code)
        cashier = factories.make_staff(s, "cashier", full_name="Rosa Diaz", office_id=office.id)
        boss = factories.make_staff(s, "supervisor", full_name="Ana Ruiz", office_id=office.id)
        s.commit()
        return token, cashier.username, boss.username


@pytest.fixture
def page(browser, live_server, station):
    context = browser.new_context(viewport=COUNTER_VIEW, base_url=live_server.url, locale="en-US")
    context.add_cookies([{"name": DEVICE_COOKIE, "value": station[0], "url": live_server.url}])
    p = context.new_page()
    p.set_default_timeout(10_000)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield p
    context.close()
    assert not errors, f"script errors or CSP violations: {errors}"


class Shots:
    def __init__(self, name: str = "test_counter_drawer"):
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.count = 0

    def __call__(self, page, name: str, *, axe: bool = False) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        stem = f"{self.count:02d}-{name}"
        if axe:
            violations = axe_violations(page)
            assert not violations, f"{stem} at {page.url}:\n{describe(violations)}"
        page.screenshot(path=str(self.folder / f"{stem}-1366x768.png"), full_page=True)
        page.set_viewport_size(WIDE_VIEW)
        page.screenshot(path=str(self.folder / f"{stem}-1920x1080.png"), full_page=True)
        page.set_viewport_size(COUNTER_VIEW)


def _fill(page, grid: str, counts: dict[str, int]) -> None:
    for name, pieces in counts.items():
        page.locator(f"#{grid}-{name}").fill(str(pieces))


def test_open_drop_blind_close_with_a_supervisor(page, station, sessions):
    _, cashier, boss = station
    shots = Shots()
    page.goto("/login")
    page.get_by_label("Username").fill(cashier)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/counter/drawer/")

    # Open with a $150.00 float; the total adds up live, a typo is flagged before submitting.
    expect(page.get_by_role("heading", name=re.compile("Open the cash drawer"))).to_be_visible()
    _fill(page, "float", {"bill_20": 5, "bill_10": "x"})
    expect(page.locator("#float output[data-total]")).to_contain_text("digits only")
    _fill(page, "float", {"bill_10": 4, "coin_25": 40})
    expect(page.locator("#float output[data-total]")).to_have_text("$150.00")
    shots(page, "open-float", axe=True)
    page.get_by_role("button", name="Open the drawer").click()
    expect(page.get_by_text("Drawer open with a float of $150.00.")).to_be_visible()

    # A drop to the safe, typed with the keyboard.
    page.get_by_label("Drop to the safe").check()
    page.get_by_label("Amount ($)").fill("40")
    page.get_by_label("Reason").fill("Too many twenties")
    page.get_by_label("Reason").press("Enter")
    expect(page.get_by_text("Drop to the safe: $40.00 recorded.")).to_be_visible()
    expect(page.locator("table")).to_contain_text("Too many twenties")
    shots(page, "drawer-open", axe=True)

    # Blind close: expected $110.00 is not on the page; the cashier counts $100.00.
    page.get_by_role("link", name=re.compile("Close the drawer")).click()
    expect(page.get_by_role("heading", name=re.compile("blind count"))).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("110.00")
    _fill(page, "close", {"bill_20": 4, "bill_10": 2})
    expect(page.locator("#close output[data-total]")).to_have_text("$100.00")
    shots(page, "blind-count", axe=True)
    page.get_by_role("button", name=re.compile("Submit the count")).click()

    # Short by $10.00, beyond the $5.00 tolerance: a supervisor approves on this screen.
    expect(page.locator(".status")).to_contain_text("Short by $10.00")
    expect(page.locator(".status")).to_contain_text("needs a supervisor")
    expect(page.locator("main")).to_contain_text("$110.00")
    approve = page.locator("form", has=page.get_by_role("button", name="Approve the over/short"))
    approve.get_by_label("Supervisor username").fill(boss)
    approve.get_by_label("Supervisor password").fill("not the password")
    approve.get_by_role("button", name="Approve the over/short").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong")
    shots(page, "short-needs-approval", axe=True)
    approve = page.locator("form", has=page.get_by_role("button", name="Approve the over/short"))
    approve.get_by_label("Supervisor username").fill(boss)
    approve.get_by_label("Supervisor password").fill(factories.PASSWORD)
    approve.get_by_role("button", name="Approve the over/short").click()
    expect(page.locator(".status")).to_contain_text("approved by Ana Ruiz")
    shots(page, "approved")
    with sessions() as s:
        drawer = s.scalars(select(DrawerSession)).one()
        assert (drawer.status, drawer.over_short_cents) == ("closed", -1_000)
        assert drawer.approved_by_id is not None

    # Lock with Alt+L; the PIN unlocks and brings the cashier back.
    page.goto("/counter/drawer/")
    page.keyboard.press("Alt+l")
    expect(page.get_by_role("heading", name="Counter locked")).to_be_visible()
    page.goto("/counter/drawer/")
    expect(page.get_by_role("heading", name="Counter locked")).to_be_visible()
    page.get_by_label("PIN").fill("0000")
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong PIN")
    shots(page, "locked", axe=True)
    page.get_by_label("PIN").fill(factories.PIN)
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("heading", name=re.compile("Open the cash drawer"))).to_be_visible()


@pytest.mark.kiosk_settings(COUNTER_LOCK_SECONDS=2)
def test_idle_counter_locks_itself(page, station):
    page.goto("/login")
    page.get_by_label("Username").fill(station[1])
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/counter/drawer/")
    # nobody touches the keyboard: lock.js locks the counter and shows the PIN screen
    expect(page.get_by_role("heading", name="Counter locked")).to_be_visible(timeout=8_000)
    Shots("test_counter_drawer_idle")(page, "idle-locked")


def test_enter_in_the_count_moves_on_and_never_sends_half_a_count(page, station, sessions, office):
    """The blind close counts once: Enter in a count box goes to the next box (the last one to
    the button), so only the button, or Enter on it, sends the count."""
    _, cashier, _ = station
    with sessions() as s:
        user = s.scalars(select(StaffUser).where(StaffUser.username == cashier)).one()
        station_id = s.scalars(select(Station.id).where(Station.name == "Counter 3")).one()
        drawers.open_drawer(
            s,
            office_id=office.id,
            station_id=station_id,
            cashier_id=user.id,
            counts={"bill_20": 5},
            actor=cashier,
        )
        s.commit()
    page.goto("/login")
    page.get_by_label("Username").fill(cashier)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/counter/drawer/close")
    page.wait_for_selector("body[data-count-ready]", state="attached")
    expect(page.locator("#close-bill_100")).to_be_focused()
    page.keyboard.press("Enter")  # $100: none
    page.keyboard.press("Enter")  # $50: none
    expect(page.locator("#close-bill_20")).to_be_focused()
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    expect(page.locator("#close-bill_10")).to_be_focused()
    expect(page.get_by_role("heading", name=re.compile("blind count"))).to_be_visible()
    page.locator("#close-coin_1").focus()  # the last box
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=re.compile("Submit the count"))).to_be_focused()
    with sessions() as s:
        assert s.scalars(select(DrawerSession.status)).one() == "open"
    page.keyboard.press("Enter")
    expect(page.locator(".status")).to_contain_text("Balanced to the cent")
