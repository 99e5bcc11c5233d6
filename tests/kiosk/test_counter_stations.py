"""Counter stations in use (/counter/stations): a supervisor sees the office's held stations
and frees one from their own screen, through the Flask client on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import select

from kiosk.signins import CounterSignIn, active_sign_ins
from tests import factories
from tests.kiosk.counter_helpers import (
    audit_actions,
    client_for,
    counter_station,
    form_post,
    staff,
)
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

RELEASED = "A supervisor released this station. Sign in again."


def _active(sessions, station_id):
    with sessions() as s:
        return s.scalars(
            select(CounterSignIn).where(
                CounterSignIn.station_id == station_id, CounterSignIn.ended_at.is_(None)
            )
        ).all()


def _release_urls(html: str) -> list[str]:
    return re.findall(r'action="(/counter/stations/\d+/release)"', html)


def _held_by_cashier(app, sessions, office, name="Counter 1", full_name="Rosa Diaz"):
    """A paired station held by a cashier who made one counter request: (client, station)."""
    station_id, token = counter_station(sessions, office, name=name)
    c = client_for(app, staff(sessions, office, "cashier", full_name=full_name), token)
    assert c.get("/counter/").status_code == 200
    c.token = token
    return c, station_id


def test_the_list_shows_held_stations_with_their_cashier(app, sessions, office):
    cashier, station_id = _held_by_cashier(app, sessions, office)
    form_post(cashier, "/counter/lock")
    _held_by_cashier(app, sessions, office, name="Counter 2", full_name="Minh Tran")
    boss = client_for(app, staff(sessions, office, "supervisor", full_name="Ana Ruiz"))
    page = boss.get("/counter/stations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Counter stations in use" in html
    assert html.index("Counter 1") < html.index("Rosa Diaz") < html.index("Counter 2")
    assert "Minh Tran" in html
    assert "Locked since" in html and "Active" in html
    assert len(_release_urls(html)) == 2
    assert "Ana Ruiz</td>" not in html  # an unpaired browser holds no station
    with sessions() as s:
        held = active_sign_ins(s, office.id)
    assert [(h.station, h.cashier, h.locked) for h in held] == [
        ("Counter 1", "Rosa Diaz", True),
        ("Counter 2", "Minh Tran", False),
    ]
    hub = boss.get("/counter/").get_data(as_text=True)
    assert 'href="/counter/stations"' in hub
    assert 'href="/counter/stations"' not in cashier.get("/counter/").get_data(as_text=True)


def test_freeing_a_station_signs_the_cashier_out_and_lets_another_in(app, sessions, office):
    cashier, station_id = _held_by_cashier(app, sessions, office)
    supervisor = staff(sessions, office, "supervisor", full_name="Ana Ruiz")
    boss = client_for(app, supervisor)
    (url,) = _release_urls(boss.get("/counter/stations").get_data(as_text=True))
    r = form_post(boss, url)
    assert r.status_code == 303 and r.headers["Location"] == "/counter/stations"
    page = boss.get("/counter/stations").get_data(as_text=True)
    assert "Counter 1 is free: Rosa Diaz is signed out" in page
    assert "No counter station of this office is in use" in page
    assert _active(sessions, station_id) == []
    released = audit_actions(sessions, "counter.released")
    assert len(released) == 1 and released[0][1] == supervisor.username
    # the cashier's next counter request signs them out with the message
    r = cashier.get("/counter/drawer/")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert RELEASED in cashier.get("/login").get_data(as_text=True)
    assert cashier.get("/counter/").headers["Location"].startswith("/login")
    # another cashier now works at that station
    other = client_for(app, staff(sessions, office, "cashier"), cashier.token)
    assert other.get("/counter/").status_code == 200
    assert len(_active(sessions, station_id)) == 1


def test_a_supervisor_at_a_counter_station_frees_another(app, sessions, office):
    _, held_station = _held_by_cashier(app, sessions, office)
    own_station, token = counter_station(sessions, office, name="Counter 2")
    boss = client_for(app, staff(sessions, office, "supervisor", full_name="Ana Ruiz"), token)
    html = boss.get("/counter/stations").get_data(as_text=True)
    assert 'Ana Ruiz <span class="tag you">you</span>' in html  # their own row, no button
    assert "Your sign-in here" in html
    (url,) = _release_urls(html)
    assert form_post(boss, url).status_code == 303
    assert _active(sessions, held_station) == []
    assert len(_active(sessions, own_station)) == 1


def test_the_supervisors_own_sign_in_is_refused(app, sessions, office):
    station_id, token = counter_station(sessions, office)
    boss = client_for(app, staff(sessions, office, "supervisor"), token)
    boss.get("/counter/stations")
    (own,) = _active(sessions, station_id)
    r = form_post(boss, f"/counter/stations/{own.id}/release")
    assert r.status_code == 303
    assert "your own sign-in" in boss.get("/counter/stations").get_data(as_text=True)
    assert len(_active(sessions, station_id)) == 1
    assert audit_actions(sessions, "counter.released") == []


def test_a_second_release_changes_nothing_and_says_so(app, sessions, office):
    _held_by_cashier(app, sessions, office)
    boss = client_for(app, staff(sessions, office, "supervisor"))
    (url,) = _release_urls(boss.get("/counter/stations").get_data(as_text=True))
    assert form_post(boss, url).status_code == 303
    boss.get("/counter/stations")  # the first release's message
    with sessions() as s:
        before = s.scalars(select(CounterSignIn)).all()
        before = [(row.id, row.ended_at, row.ended_reason) for row in before]
    r = form_post(boss, url)
    assert r.status_code == 303
    html = boss.get("/counter/stations").get_data(as_text=True)
    assert "Rosa Diaz&#39;s sign-in at Counter 1 has ended already: nothing was changed" in html
    with sessions() as s:
        after = [
            (row.id, row.ended_at, row.ended_reason) for row in s.scalars(select(CounterSignIn))
        ]
    assert after == before
    assert len(audit_actions(sessions, "counter.released")) == 1


def test_another_offices_sign_in_is_refused(app, sessions, office):
    with sessions() as s:
        other_office = factories.make_office(s, code="LB", name="Other office")
        s.commit()
    _, station_id = _held_by_cashier(app, sessions, other_office, full_name="Lan Pham")
    (theirs,) = _active(sessions, station_id)
    boss = client_for(app, staff(sessions, office, "supervisor"))
    html = boss.get("/counter/stations").get_data(as_text=True)
    assert "Lan Pham" not in html and _release_urls(html) == []
    for target in (theirs.id, theirs.id + 1000, 2**40):
        r = form_post(boss, f"/counter/stations/{target}/release")
        assert r.status_code == 303
        page = boss.get("/counter/stations").get_data(as_text=True)
        assert "not at a station of your office" in page
    assert len(_active(sessions, station_id)) == 1
    assert audit_actions(sessions, "counter.released") == []


def test_missing_csrf_is_refused(app, sessions, office):
    _, station_id = _held_by_cashier(app, sessions, office)
    boss = client_for(app, staff(sessions, office, "supervisor"))
    (url,) = _release_urls(boss.get("/counter/stations").get_data(as_text=True))
    r = boss.post(url, data={})
    assert r.status_code == 400 and "The form expired" in r.get_data(as_text=True)
    r = boss.post(url, data={"csrf_token": "forged"})
    assert r.status_code == 400
    assert len(_active(sessions, station_id)) == 1


def test_cashiers_and_finance_are_refused(app, sessions, office):
    cashier, station_id = _held_by_cashier(app, sessions, office)
    (sign_in,) = _active(sessions, station_id)
    url = f"/counter/stations/{sign_in.id}/release"
    colleague = client_for(app, staff(sessions, office, "cashier"))
    finance = client_for(app, staff(sessions, office, "finance"))
    for c in (cashier, colleague, finance):
        assert c.get("/counter/stations").status_code == 403
        assert form_post(c, url).status_code == 403
    assert len(_active(sessions, station_id)) == 1
    anonymous = app.test_client()
    assert anonymous.get("/counter/stations").headers["Location"].startswith("/login?next=")


def test_a_locked_supervisor_unlocks_first(app, sessions, office):
    _, held_station = _held_by_cashier(app, sessions, office)
    _, token = counter_station(sessions, office, name="Counter 2")
    boss = client_for(app, staff(sessions, office, "supervisor"), token)
    (url,) = _release_urls(boss.get("/counter/stations").get_data(as_text=True))
    form_post(boss, "/counter/lock")
    r = boss.get("/counter/stations")
    assert r.status_code == 302
    assert r.headers["Location"] == "/counter/unlock?next=/counter/stations"
    r = form_post(boss, url)
    assert r.status_code == 302 and r.headers["Location"] == "/counter/unlock"
    assert len(_active(sessions, held_station)) == 1
