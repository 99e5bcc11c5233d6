"""Idle timeout: "Need more time?" after a quiet period, then the visit is wiped and the
attract screen returns, with nothing personal left in the page or behind the back button.
The timeouts are shortened through settings; the production defaults are 60 s and 30 s."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk.models import Visit
from payments.outbox import OutboxMessage


def open_account(page, line: str) -> None:
    page.goto("/kiosk/")
    page.locator("form.languages").get_by_role("button", name="Español").click()
    page.wait_for_selector("body[data-ready]", state="attached")
    page.keyboard.type(line)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Su cuenta", exact=True)).to_be_visible()


@pytest.mark.kiosk_settings(KIOSK_IDLE_SECONDS=2, KIOSK_IDLE_WARNING_SECONDS=120)
def test_more_time_keeps_the_visit(kiosk_page, make_account, shots):
    page = kiosk_page
    _number, line = make_account(balance_cents=1234)
    open_account(page, line)
    dialog = page.get_by_role("dialog", name="¿Necesita más tiempo?")
    expect(dialog).to_be_visible(timeout=15_000)
    shots(page, "need-more-time", axe=True)
    dialog.get_by_role("button", name="Sí, necesito más tiempo").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", name="Su cuenta", exact=True)).to_be_visible()
    expect(page.get_by_text("$12.34").first).to_be_visible()


@pytest.mark.kiosk_settings(KIOSK_IDLE_SECONDS=2, KIOSK_IDLE_WARNING_SECONDS=3)
def test_no_answer_wipes_the_visit(kiosk_page, make_account, sessions, shots):
    page = kiosk_page
    _number, line = make_account(balance_cents=1234)
    open_account(page, line)
    expect(page.get_by_role("dialog")).to_be_visible(timeout=15_000)
    expect(page.locator("form.languages")).to_be_visible(timeout=15_000)  # back at the start
    expect(page).to_have_url(re.compile(r"/kiosk/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the language is forgotten
    assert "12.34" not in page.content()
    shots(page, "attract-after-timeout")
    page.go_back()
    expect(page.get_by_text("$12.34")).to_have_count(0)
    expect(page.get_by_role("heading", name="Your account")).to_have_count(0)
    with sessions() as s:
        visit = s.scalar(select(Visit))
        assert visit.outcome_code == "timed_out" and visit.ended_at is not None
        assert visit.language == "es" and visit.account_id is not None
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "cis.visit"))
        assert json.loads(message.payload)["outcome_code"] == "timed_out"


@pytest.mark.kiosk_settings(KIOSK_IDLE_SECONDS=4, KIOSK_IDLE_WARNING_SECONDS=2)
def test_timeout_while_waiting_for_a_card_releases_the_reader(
    kiosk_page, make_account, sessions, test_card
):
    from payments.models import Payment

    page = kiosk_page
    _number, line = make_account(balance_cents=1234)
    test_card("reader_timeout")  # no card ever comes
    open_account(page, line)
    page.get_by_role("button", name=re.compile(r"Pagar \$12\.34")).click()
    expect(page.get_by_text("Acerque, inserte o deslice su tarjeta en el lector.")).to_be_visible()
    expect(page.locator("form.languages")).to_be_visible(timeout=20_000)
    with sessions() as s:
        assert list(s.scalars(select(Payment.status))) == ["canceled"]
