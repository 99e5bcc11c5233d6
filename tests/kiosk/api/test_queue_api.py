"""The queue and counter-visit API through the real app: the waiting list, call next (also
replayed with the same Idempotency-Key), call, recall, no-show, transfer, walk-in and ticket
visits with reason/outcome codes, and clear refusals that change nothing."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import func, select

from kiosk import queue
from kiosk.auth import DEVICE_COOKIE
from kiosk.cis.records import CIS_VISIT_TOPIC
from kiosk.models import QueueTicket, Visit
from kiosk.stations import pair
from payments.db import utcnow
from payments.outbox import OutboxMessage
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


def _post(c, url, body=None, key: str | None = "auto"):
    headers = {"X-CSRFToken": c.csrf}
    if key is not None:
        headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    return c.post(url, json=body, headers=headers)


def _client(app, sessions, office, role, station_name=None):
    """A signed-in staff client; with ``station_name`` its browser is a paired counter."""
    c = app.test_client()
    token = None
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id)
        c.station_id = None
        if station_name:
            station, code = factories.make_station(s, s.merge(office), "counter", name=station_name)
            _, token = pair(s, code)
            c.station_id = station.id
        s.commit()
        c.user_id, c.username = user.id, user.username
    if token:
        c.set_cookie(DEVICE_COOKIE, token)
    assert login(c, c.username).status_code == 302
    c.csrf = csrf_token(c, "/pair")
    return c


@pytest.fixture
def cashier(app, sessions, office):
    return _client(app, sessions, office, "cashier", "Counter 1")


@pytest.fixture
def tickets(sessions, office):
    """B001 (10 min), G001 (30 min), S001 (5 min) waiting."""
    made = {}
    with sessions() as s:
        for service, language, minutes in (
            ("billing", "es", 10),
            ("other", "vi", 30),
            ("start_stop", "en", 5),
        ):
            t = queue.issue_ticket(s, office_id=office.id, service=service, language=language)
            t.ticket.issued_at = utcnow() - dt.timedelta(minutes=minutes)
            made[t.number] = t.ticket.id
        s.commit()
    return made


def _error(response) -> str:
    return response.get_json()["error"]["code"]


def _count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_waiting_list_in_calling_order(cashier, tickets):
    body = cashier.get("/api/v1/queue").get_json()
    assert [t["number"] for t in body["waiting"]] == ["B001", "S001", "G001"]
    first = body["waiting"][0]
    assert (first["service"], first["language"], first["minutes_waited"]) == ("billing", "es", 10)
    assert body["serving"] == [] and body["current_visit"] is None


def test_call_next_then_a_replay_returns_the_same_ticket(cashier, tickets, sessions):
    r = _post(cashier, "/api/v1/queue/next", key="next-1")
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["ticket"]["number"] == "B001" and body["ticket"]["status"] == "called"
    visit = body["visit"]
    assert visit["ticket_number"] == "B001" and visit["language"] == "es"
    assert visit["station_id"] == cashier.station_id and visit["staff_user_id"] == cashier.user_id
    assert visit["called_at"] and visit["started_at"] and visit["ended_at"] is None
    again = _post(cashier, "/api/v1/queue/next", key="next-1")
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["ticket"]["id"] == body["ticket"]["id"]
    assert _count(sessions, Visit) == 1
    queue_now = cashier.get("/api/v1/queue").get_json()
    assert queue_now["serving"][0] == {
        "number": "B001",
        "counter": "Counter 1",
        "announced_at": queue_now["serving"][0]["announced_at"],
    }
    assert queue_now["current_visit"]["id"] == visit["id"]


def test_posts_need_an_idempotency_key_and_a_free_counter(cashier, tickets):
    r = _post(cashier, "/api/v1/queue/next", key=None)
    assert r.status_code == 400 and _error(r) == "idempotency_key_required"
    assert _post(cashier, "/api/v1/queue/next").status_code == 201
    busy = _post(cashier, "/api/v1/queue/next")
    assert busy.status_code == 409 and _error(busy) == "visit_open"


def test_empty_queue(cashier):
    r = _post(cashier, "/api/v1/queue/next")
    assert r.status_code == 409 and _error(r) == "queue_empty"
    assert "Nobody is waiting" in r.get_json()["error"]["message"]


def test_an_unpaired_browser_names_its_counter(app, sessions, office, cashier, tickets):
    supervisor = _client(app, sessions, office, "supervisor")
    r = _post(supervisor, "/api/v1/queue/next")
    assert r.status_code == 400 and _error(r) == "no_station"
    r = _post(supervisor, "/api/v1/queue/next", {"station_id": "one"})
    assert r.status_code == 400 and _error(r) == "bad_station"
    with sessions() as s:
        station, _ = factories.make_station(s, s.merge(office), "counter", name="Counter 3")
        s.commit()
        station_id = station.id
    r = _post(supervisor, "/api/v1/queue/next", {"station_id": station_id})
    assert r.status_code == 201 and r.get_json()["visit"]["station_id"] == station_id


def test_call_recall_no_show(cashier, tickets, sessions):
    other = tickets["G001"]
    r = _post(cashier, f"/api/v1/queue/{other}/recall")
    assert r.status_code == 409 and _error(r) == "not_called"
    r = _post(cashier, f"/api/v1/queue/{other}/call")
    assert r.status_code == 200 and r.get_json()["ticket"]["number"] == "G001"
    r = _post(cashier, f"/api/v1/queue/{other}/recall")
    assert r.status_code == 200 and r.get_json()["ticket"]["status"] == "called"
    r = _post(cashier, f"/api/v1/queue/{other}/no-show")
    assert r.status_code == 200
    body = r.get_json()
    assert body["ticket"]["status"] == "no_show" and body["visit"]["outcome_code"] == "no_show"
    assert _post(cashier, "/api/v1/queue/999999/call").status_code == 404
    with sessions() as s:
        [message] = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == CIS_VISIT_TOPIC))
        assert json.loads(message.payload)["ticket_number"] == "G001"


def test_transfer(app, sessions, office, cashier, tickets):
    second = _client(app, sessions, office, "cashier", "Counter 2")
    bill = tickets["B001"]
    _post(cashier, "/api/v1/queue/next")
    r = _post(cashier, f"/api/v1/queue/{bill}/transfer", {"service": "nope"})
    assert r.status_code == 400 and _error(r) == "bad_service"
    r = _post(cashier, f"/api/v1/queue/{bill}/transfer", {})
    assert r.status_code == 400 and _error(r) == "nothing_to_transfer"
    r = _post(
        cashier,
        f"/api/v1/queue/{bill}/transfer",
        {"service": "start_stop", "station_id": second.station_id},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["ticket"]["status"] == "waiting" and body["ticket"]["service"] == "start_stop"
    assert body["ticket"]["for_station_id"] == second.station_id
    assert body["visit"]["outcome_code"] == "transferred"
    waiting = cashier.get("/api/v1/queue").get_json()["waiting"]
    assert waiting[0]["number"] == "B001" and waiting[0]["for_station"] == "Counter 2"
    assert _post(second, "/api/v1/queue/next").get_json()["ticket"]["number"] == "B001"


def test_a_walk_in_logged_in_one_request(cashier, sessions):
    r = _post(
        cashier,
        "/api/v1/visits",
        {
            "language": "es",
            "reasons": ["information.holidays", "information.carts"],
            "outcome": "answered",
            "notes": "Gave the holiday flyer.",
        },
        key="walk-1",
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    visit = r.get_json()["visit"]
    assert visit["ticket_id"] is None and visit["ended_at"] and visit["called_at"] is None
    assert visit["reason_codes"] == ["information.holidays", "information.carts"]
    assert visit["reason_labels"] == ["Holiday schedule", "What goes in which cart"]
    assert visit["outcome_code"] == "answered" and visit["notes"] == "Gave the holiday flyer."
    walk_in = {
        "language": "es",
        "reasons": ["information.holidays", "information.carts"],
        "outcome": "answered",
        "notes": "Gave the holiday flyer.",
    }
    replay = _post(cashier, "/api/v1/visits", walk_in, key="walk-1")
    assert replay.status_code == 200 and replay.get_json()["visit"]["id"] == visit["id"]
    other = _post(cashier, "/api/v1/visits", {"language": "vi"}, key="walk-1")
    assert other.status_code == 409 and _error(other) == "idempotency_conflict"
    assert _count(sessions, Visit) == 1
    assert _count(sessions, OutboxMessage) == 1


def test_a_visit_from_a_ticket_then_ended(cashier, tickets, sessions):
    r = _post(cashier, "/api/v1/visits", {"ticket_id": tickets["S001"]})
    assert r.status_code == 201
    visit = r.get_json()["visit"]
    assert visit["reason_codes"] == ["service.start_stop"] and visit["ended_at"] is None
    url = f"/api/v1/visits/{visit['id']}/end"
    r = _post(cashier, url, {"reasons": ["service.start_stop"], "outcome": "nope"})
    assert r.status_code == 400 and _error(r) == "unknown_outcome"
    r = _post(cashier, url, {"outcome": "resolved"})
    assert r.status_code == 400 and _error(r) == "reason_required"
    assert _count(sessions, OutboxMessage) == 0
    r = _post(
        cashier, url, {"reasons": ["service.start_stop"], "outcome": "resolved", "notes": "ok"}
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["ticket"]["status"] == "done" and body["visit"]["outcome_code"] == "resolved"
    again = _post(cashier, url, {"reasons": ["service.start_stop"], "outcome": "resolved"})
    assert again.status_code == 409 and _error(again) == "visit_ended"
    assert _post(cashier, "/api/v1/visits/nope/end", {"outcome": "paid"}).status_code == 404
    with sessions() as s:
        assert s.get(QueueTicket, tickets["S001"]).status == "done"


BAD_VISITS = [
    {"language": "fr"},
    {"reasons": "billing.nope"},
    {"reasons": [{"code": "x"}]},
    {"ticket_id": "S001"},
    {"account_id": "12"},
    {"reasons": ["billing.pay_bill"], "outcome": "nope"},
]


def test_bad_visits_are_refused_and_change_nothing(cashier, tickets, sessions):
    for body in BAD_VISITS:
        r = _post(cashier, "/api/v1/visits", body)
        assert r.status_code in (400, 404), (body, r.get_data(as_text=True))
        assert set(r.get_json()["error"]) >= {"code", "message"}
    assert _count(sessions, Visit) == 0
    assert _count(sessions, OutboxMessage) == 0


def test_not_json_is_a_clear_error(cashier):
    r = cashier.post(
        "/api/v1/queue/next",
        data="nope",
        headers={"X-CSRFToken": cashier.csrf, "Idempotency-Key": "k", "Content-Type": "text/plain"},
    )
    assert r.status_code == 400 and _error(r) == "bad_json"


def test_a_ticket_visit_logged_in_one_request(cashier, tickets):
    body = {"ticket_id": tickets["B001"], "reasons": ["billing.pay_bill"], "outcome": "paid"}
    r = _post(cashier, "/api/v1/visits", body)
    assert r.status_code == 201, r.get_data(as_text=True)
    result = r.get_json()
    assert result["ticket"]["status"] == "done" and result["visit"]["ended_at"]
    assert result["visit"]["reason_codes"] == ["billing.pay_bill"]
    assert result["visit"]["called_at"] <= result["visit"]["ended_at"]
    r = _post(cashier, "/api/v1/visits", {"ticket_id": tickets["G001"], "reasons": ["nope"]})
    assert r.status_code == 400 and _error(r) == "unknown_reason"
    waiting = [t["number"] for t in cashier.get("/api/v1/queue").get_json()["waiting"]]
    assert waiting == ["S001", "G001"]
