"""The counter queue pages and the lobby's now-serving screen through the Flask client: plain
forms (POST, then redirect), a double-pressed "Call next" calls one ticket, clear messages for
bad input, and a public lobby screen with numbers and counter names only."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from kiosk import queue
from kiosk.auth import DEVICE_COOKIE
from kiosk.models import QueueTicket, Visit
from kiosk.stations import pair
from payments.db import utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

_KEY = re.compile(r'name="key" value="([^"]+)"')


@pytest.fixture
def counter(app, sessions, office):
    """A cashier signed in at the paired station "Counter 1"."""
    c = app.test_client()
    with sessions() as s:
        user = factories.make_staff(s, "cashier", office_id=office.id, full_name="Ana Ruiz")
        station, code = factories.make_station(s, s.merge(office), "counter", name="Counter 1")
        _, token = pair(s, code)
        s.commit()
        c.station_id, c.username = station.id, user.username
    c.set_cookie(DEVICE_COOKIE, token)
    assert login(c, c.username).status_code == 302
    c.csrf = csrf_token(c, "/counter/queue")
    return c


def _issue(sessions, office, service="billing", language="es", minutes=3) -> str:
    with sessions() as s:
        t = queue.issue_ticket(s, office_id=office.id, service=service, language=language)
        t.ticket.issued_at = utcnow() - dt.timedelta(minutes=minutes)
        s.commit()
        return t.number


def _form(c, url, **data):
    return c.post(url, data={"csrf_token": c.csrf, **data})


def _page(c, url="/counter/queue") -> str:
    response = c.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _visits(sessions) -> list[Visit]:
    with sessions() as s:
        return list(s.scalars(select(Visit).order_by(Visit.started_at)))


def test_the_queue_page_lists_waiting_tickets(counter, sessions, office):
    _issue(sessions, office, "other", "vi", minutes=25)
    _issue(sessions, office, "billing", "es", minutes=4)
    html = _page(counter)
    assert "Waiting list · Counter 1" in html
    assert html.index("B001") < html.index("G001")  # billing is called first
    assert "Vietnamese" in html and "25 min" in html
    assert 'data-key="F4"' in html and "queue/queue.js" in html
    assert "No customer at this counter" in html


def test_call_next_twice_with_the_same_form_calls_one_ticket(counter, sessions, office):
    _issue(sessions, office)
    _issue(sessions, office)
    key = _KEY.search(_page(counter)).group(1)
    r = _form(counter, "/counter/queue/next", key=key)
    assert r.status_code == 303 and r.headers["Location"].endswith("/counter/queue")
    _form(counter, "/counter/queue/next", key=key)  # the double press
    html = _page(counter)
    assert "Calling B001" in html and "speaks Spanish" in html
    assert 'Now serving: <span class="ticket-number">B001</span>' in html
    assert len(_visits(sessions)) == 1


def test_finish_a_visit_with_reasons_outcome_and_notes(counter, sessions, office):
    _issue(sessions, office)
    _form(counter, "/counter/queue/next")
    visit = _visits(sessions)[0]
    html = _page(counter)
    assert f'action="/counter/visits/{visit.id}/finish"' in html
    assert 'value="billing.question" checked' in html  # the ticket's service, ticked already
    r = _form(counter, f"/counter/visits/{visit.id}/finish", reasons="billing.question")
    assert r.status_code == 303
    assert "Choose how the visit ended" in _page(counter)
    assert _visits(sessions)[0].ended_at is None
    counter.post(
        f"/counter/visits/{visit.id}/finish",
        data={
            "csrf_token": counter.csrf,
            "reasons": ["billing.pay_bill", "billing.balance"],
            "outcome": "paid",
            "notes": "Paid in cash.",
        },
    )
    assert "Ticket B001 finished: Paid." in _page(counter)
    done = _visits(sessions)[0]
    assert done.ended_at and done.reason_codes == "billing.pay_bill,billing.balance"
    log = _page(counter, "/counter/visits")
    assert "Pay a bill, Check the balance" in log and "Paid in cash." in log
    assert "Ana Ruiz" in log and "Counter 1" in log


def test_call_a_number_recall_and_no_show(counter, sessions, office):
    _issue(sessions, office, "billing")
    other = _issue(sessions, office, "other")
    _form(counter, "/counter/queue/call", number="x99")
    assert "No ticket x99 today" in _page(counter)
    _form(counter, "/counter/queue/call", number="g1")
    assert f"Calling {other}" in _page(counter)
    with sessions() as s:
        ticket_id = s.scalar(select(QueueTicket.id).where(QueueTicket.number == other))
    _form(counter, f"/counter/queue/{ticket_id}/recall")
    assert "announced again" in _page(counter)
    _form(counter, f"/counter/queue/{ticket_id}/no-show")
    assert "marked as a no-show" in _page(counter)
    assert _visits(sessions)[0].outcome_code == "no_show"


def test_transfer_from_the_visit_panel(counter, sessions, office):
    number = _issue(sessions, office, "billing")
    _form(counter, "/counter/queue/next")
    with sessions() as s:
        ticket_id = s.scalar(select(QueueTicket.id).where(QueueTicket.number == number))
    _form(counter, f"/counter/queue/{ticket_id}/transfer", station_id="abc")
    assert "station_id must be" in _page(counter)
    _form(counter, f"/counter/queue/{ticket_id}/transfer", service="start_stop")
    html = _page(counter)
    assert "transferred to Start or stop service" in html
    assert "No customer at this counter" in html


def test_walk_in(counter, sessions):
    html = _page(counter, "/counter/visits/walk-in")
    assert "Serve a walk-in" in html and 'name="reasons"' in html
    _form(counter, "/counter/visits/walk-in", language="vi", reasons="information.carts")
    html = _page(counter)
    assert "Walk-in visit started." in html and "Now serving" in html and "Vietnamese" in html
    [visit] = _visits(sessions)
    assert visit.ticket_id is None and visit.reason_codes == "information.carts"
    _form(counter, "/counter/visits/walk-in", language="fr")
    assert "language must be one of" in _page(counter)


def test_an_unpaired_browser_cannot_call(app, sessions, office):
    _issue(sessions, office)
    client = app.test_client()
    with sessions() as s:
        user = factories.make_staff(s, "supervisor", office_id=office.id)
        s.commit()
    login(client, user.username)
    html = client.get("/counter/queue").get_data(as_text=True)
    assert "not paired with a counter station" in html and "B001" in html
    token = csrf_token(client, "/counter/queue")
    client.post("/counter/queue/next", data={"csrf_token": token})
    assert "paired counter station" in client.get("/counter/queue").get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 0


def test_lobby_shows_numbers_and_counters_only(client, counter, sessions, office):
    _issue(sessions, office, "billing")
    _issue(sessions, office, "other")
    with sessions() as s:
        s.merge(office)
        account = factories.make_account(s, name="MARIA GONZALEZ")
        t = queue.issue_ticket(s, office_id=office.id, service="billing", account_id=account.id)
        s.commit()
        third = t.number
    _form(counter, "/counter/queue/next")
    r = client.get("/lobby/now-serving")  # anonymous: no sign-in
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Now serving" in html and "Atendiendo a" in html and "Đang phục vụ" in html
    assert 'lang="es"' in html and 'lang="vi"' in html
    assert "B001" in html and "Counter 1" in html and third in html
    assert "GONZALEZ" not in html and "Ana Ruiz" not in html
    board = client.get("/lobby/now-serving.json?office=SA").get_json()
    assert board["serving"][0]["number"] == "B001" and board["serving"][0]["counter"] == "Counter 1"
    assert board["next"] == [third, "G001"]
    assert set(board) == {"office", "serving", "next", "updated_at"}
    assert set(board["serving"][0]) == {"number", "counter", "announced_at"}
    missing = client.get("/lobby/now-serving.json?office=ZZ")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "no_office"
    assert client.get("/lobby/now-serving?office=ZZ").status_code == 404


def test_lobby_from_a_kiosk_device(kiosk_client):
    html = kiosk_client.get("/lobby/now-serving").get_data(as_text=True)
    assert "No one is waiting." in html and "Không có ai đang chờ." in html


def test_the_queue_refresh_does_not_hold_off_the_auto_lock(app, counter, sessions):
    """queue.js refreshes the list from GET /api/v1/queue: an API read is not cashier
    activity, so an idle counter left on the queue page still locks (issue #6)."""
    from kiosk.signins import CounterSignIn

    def age(seconds: int) -> None:
        with sessions() as s:
            for row in s.scalars(select(CounterSignIn)):
                row.last_activity_at -= dt.timedelta(seconds=seconds)
            s.commit()

    app.config["COUNTER_LOCK_SECONDS"] = 300
    html = _page(counter)
    assert 'data-queue-url="/api/v1/queue"' in html  # what the page's script reads
    for seconds in (120, 120, 59):  # the refresh, again and again: 299 s idle in all
        age(seconds)
        assert counter.get("/api/v1/queue").status_code == 200
    age(2)
    assert counter.get("/api/v1/queue").status_code == 423
    r = counter.get("/counter/queue")
    assert r.status_code == 302 and r.headers["Location"].startswith("/counter/unlock")
