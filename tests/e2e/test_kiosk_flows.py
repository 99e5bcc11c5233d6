"""Find by address, questions, service requests with status lookup, and queue tickets, driven
through the visible buttons and text."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect
from sqlalchemy import select

from kiosk.models import QueueTicket, ServiceRequest, Visit
from payments.outbox import OutboxMessage
from tests.e2e.keys import press


def start(page, language: str = "English") -> None:
    page.goto("/kiosk/")
    page.locator("form.languages").get_by_role("button", name=re.compile(language)).click()


def test_address_search_with_several_matches(kiosk_page, make_account, shots, sessions):
    page = kiosk_page
    make_account(house_number=415, street_name="BRISTOL", unit="A", name="ANA LOPEZ")
    make_account(house_number=415, street_name="BRISTOL", unit="B", name="TRAN VAN NAM")
    make_account(house_number=415, street_name="MAIN", name="JOHN SMITH")
    start(page)
    page.get_by_role("link", name=re.compile("Pay my bill")).click()
    page.get_by_role("link", name="Search by my address").click()
    press(page, "415")
    shots(page, "house-number")
    page.get_by_role("button", name="Next").click()
    press(page, "BRIS", ".keyboard")
    shots(page, "street")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("We found several accounts. Touch yours.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("415 N BRISTOL ST A"))).to_be_visible()
    expect(page.get_by_text("T*** V*** N***")).to_be_visible()
    expect(page.get_by_text("TRAN VAN NAM")).to_have_count(0)  # names stay masked
    expect(page.get_by_text("415 N MAIN ST")).to_have_count(0)
    shots(page, "results")
    page.get_by_role("button", name=re.compile("415 N BRISTOL ST B")).click()
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
    expect(page.get_by_text("415 N BRISTOL ST B")).to_be_visible()


def test_address_not_found_offers_other_ways(kiosk_page, shots):
    page = kiosk_page
    start(page, "Español")
    page.get_by_role("link", name=re.compile("Pagar mi factura")).click()
    page.get_by_role("link", name="Buscar por mi dirección").click()
    press(page, "1")
    page.get_by_role("button", name="Siguiente").click()
    press(page, "ZZZ", ".keyboard")
    page.get_by_role("button", name="Buscar").click()
    expect(page.get_by_role("heading", name="No encontramos su cuenta")).to_be_visible()
    expect(page.get_by_role("link", name="Escribir mi número de cuenta")).to_be_visible()
    expect(page.get_by_role("link", name="Mejor hablar con una persona")).to_be_visible()
    shots(page, "not-found")


def test_question_pickup_day_in_vietnamese(kiosk_page, make_account, shots, sessions):
    page = kiosk_page
    _number, line = make_account(pickup_day="thursday")
    start(page, "Tiếng Việt")
    page.get_by_role("link", name=re.compile("Câu hỏi thường gặp")).click()
    shots(page, "questions")
    page.get_by_role("link", name="Bỏ gì vào thùng nào?").click()
    expect(page.get_by_role("heading", name="Thùng xanh dương: đồ tái chế")).to_be_visible()
    shots(page, "answer-carts")
    page.get_by_role("link", name="Câu hỏi khác").click()
    page.get_by_role("link", name="Khi nào là ngày thu gom rác của tôi?").click()
    page.get_by_role("link", name="Xem ngày thu gom của tôi").click()
    page.wait_for_selector("body[data-ready]", state="attached")
    page.keyboard.type(line)
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile("Ngày thu gom tại .* là Thứ Năm"))).to_be_visible()
    shots(page, "answer-pickup-day")


def test_service_request_then_status_lookup(kiosk_page, make_account, shots, sessions):
    page = kiosk_page
    number, _line = make_account()
    start(page)
    page.get_by_role("link", name=re.compile("Request a service")).click()
    # No account yet: find it first, then straight back to the services.
    page.get_by_role("link", name="Type my account number").click()
    press(page, number)
    page.get_by_role("button", name="Find my account").click()
    expect(page.get_by_role("heading", name="Request a service")).to_be_visible()
    shots(page, "services")
    page.get_by_role("link", name=re.compile("Cart exchange or repair")).click()
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("alert")).to_contain_text("choose one answer")
    page.get_by_text("Recycling (blue)").click()
    page.get_by_text("Repair my cart").click()
    shots(page, "details")
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("heading", name="We received your request")).to_be_visible()
    shown = page.locator(".reference").inner_text()
    shots(page, "received")
    with sessions() as s:
        request = s.scalar(select(ServiceRequest))
        assert request.reference == shown.replace(" ", "")
        assert json.loads(request.details) == {"cart": "recycling", "need": "repair"}
        assert s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "cis.service_request"))
        request.status = "scheduled"
        s.commit()
    page.get_by_role("link", name="Main menu").click() if page.get_by_role(
        "link", name="Main menu"
    ).count() else page.get_by_role("link", name="Something else").click()
    page.get_by_role("link", name=re.compile("Check a request")).click()
    press(page, "1234")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("alert")).to_contain_text("8 digits")
    page.locator("#reference").fill("")
    press(page, shown.replace(" ", ""))
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name=f"Request {shown}")).to_be_visible()
    expect(page.locator(".fact.due dd")).to_have_text("Scheduled")
    shots(page, "status")


def test_queue_ticket_in_spanish_and_visit_recorded(kiosk_page, shots, sessions, live_server):
    page = kiosk_page
    start(page, "Español")
    page.get_by_role("link", name=re.compile("Hablar con una persona")).click()
    shots(page, "ticket-choice")
    page.get_by_role("button", name="Una pregunta sobre mi factura").click()
    expect(page.locator(".ticket-number")).to_have_text("B001")
    expect(page.get_by_text("Usted sigue.")).to_be_visible()
    shots(page, "ticket")
    page.get_by_role("button", name="Terminar").click()
    expect(page.locator("form.languages")).to_be_visible()
    with sessions() as s:
        ticket = s.scalar(select(QueueTicket))
        assert (ticket.number, ticket.language, ticket.service) == ("B001", "es", "billing")
        visit = s.scalar(select(Visit))
        assert visit.ticket_id == ticket.id and visit.outcome_code == "ticket_issued"
        assert visit.reason_codes == "billing.question" and visit.ended_at is not None
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "cis.visit"))
        assert json.loads(message.payload)["ticket_number"] == "B001"
