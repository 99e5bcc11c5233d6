"""Counter PIN lock and one cashier per station, through the Flask client: the Lock button,
the idle lock (the clock is moved in the database, no sleeping), unlock with the PIN, too
many wrong PINs, a replayed cookie, a held station and a supervisor's release, the PIN page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from kiosk.access import Principal
from kiosk.models import StaffUser
from kiosk.signins import PIN_MAX_ATTEMPTS, CounterSignIn
from kiosk.staff import check_secret
from tests import factories
from tests.conftest import login
from tests.kiosk.counter_helpers import (
    audit_actions,
    client_for,
    counter_station,
    form_post,
    staff,
)
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


def _locked(c) -> bool:
    r = c.get("/counter/")
    return r.status_code == 302 and r.headers["Location"].startswith("/counter/unlock")


def _age(sessions, seconds: int) -> None:
    """Move every sign-in's last activity back in time (instead of waiting)."""
    with sessions() as s:
        for row in s.scalars(select(CounterSignIn)):
            row.last_activity_at = row.last_activity_at - dt.timedelta(seconds=seconds)
        s.commit()


def _active(sessions, station_id):
    with sessions() as s:
        return s.scalars(
            select(CounterSignIn).where(
                CounterSignIn.station_id == station_id, CounterSignIn.ended_at.is_(None)
            )
        ).all()


def test_lock_button_then_unlock_with_the_pin(app, sessions, office):
    station_id, token = counter_station(sessions, office)
    c = client_for(app, staff(sessions, office, "cashier"), token)
    page = c.get("/counter/drawer/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'accesskey="l"' in html and "counter/lock.js" in html
    r = form_post(c, "/counter/lock")
    assert r.status_code == 303 and r.headers["Location"] == "/counter/unlock"
    assert _locked(c)
    r = c.get("/counter/drawer/?x=1")
    assert r.headers["Location"] == "/counter/unlock?next=/counter/drawer/?x%3D1"
    api = c.get("/api/v1/drawers/current")
    assert api.status_code == 423 and api.get_json()["error"]["code"] == "counter_locked"
    unlock = c.get("/counter/unlock")
    assert unlock.status_code == 200 and "Counter locked" in unlock.get_data(as_text=True)
    assert "drawer" not in unlock.get_data(as_text=True).lower()
    wrong = form_post(c, "/counter/unlock", {"pin": "1357"})
    assert wrong.status_code == 400 and "Wrong PIN" in wrong.get_data(as_text=True)
    bad = form_post(c, "/counter/unlock", {"pin": "abcd"})
    assert bad.status_code == 400
    assert _locked(c)
    ok = form_post(c, "/counter/unlock?next=/counter/drawer/", {"pin": factories.PIN})
    assert ok.status_code == 303 and ok.headers["Location"] == "/counter/drawer/"
    assert not _locked(c)
    assert c.get("/api/v1/drawers/current").status_code == 404  # no drawer, but not locked
    actions = [a for a, _, _ in audit_actions(sessions, "counter.")]
    assert actions.count("counter.unlock_failed") == 2
    assert "counter.locked" in actions and "counter.unlocked" in actions


def test_idle_time_locks_on_the_server(app, sessions, office):
    app.config["COUNTER_LOCK_SECONDS"] = 300
    station_id, token = counter_station(sessions, office)
    c = client_for(app, staff(sessions, office, "cashier"), token)
    assert not _locked(c)
    _age(sessions, 299)
    assert not _locked(c)  # 299 s: still open (and the request counts as activity)
    _age(sessions, 301)
    assert form_post(c, "/counter/heartbeat").status_code == 423
    assert _locked(c)
    locked = audit_actions(sessions, "counter.locked")
    assert locked[-1][2]["reason"] == "idle"


def test_idle_lock_can_be_turned_off(app, sessions, office):
    app.config["COUNTER_LOCK_SECONDS"] = 0
    _, token = counter_station(sessions, office)
    c = client_for(app, staff(sessions, office, "cashier"), token)
    c.get("/counter/")
    _age(sessions, 10**8)
    assert not _locked(c)
    assert "counter/lock.js" in c.get("/counter/drawer/").get_data(as_text=True)


def test_a_replayed_cookie_does_not_skip_the_lock(app, sessions, office):
    _, token = counter_station(sessions, office)
    c = client_for(app, staff(sessions, office, "cashier"), token)
    c.get("/counter/")
    before = c.get_cookie("payoffice_session").value
    form_post(c, "/counter/lock")
    c.set_cookie("payoffice_session", before)
    assert _locked(c)


def test_too_many_wrong_pins_sign_out_but_keep_the_station(app, sessions, office):
    station_id, token = counter_station(sessions, office)
    cashier = staff(sessions, office, "cashier", full_name="Rosa Diaz")
    c = client_for(app, cashier, token)
    form_post(c, "/counter/lock")
    for _ in range(PIN_MAX_ATTEMPTS - 1):
        assert form_post(c, "/counter/unlock", {"pin": "9753"}).status_code == 400
    r = form_post(c, "/counter/unlock", {"pin": "9753"})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert "Sign in again with your password" in c.get("/login").get_data(as_text=True)
    r = c.get("/counter/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    # nobody else takes the station meanwhile
    other = client_for(app, staff(sessions, office, "cashier"), token)
    r = other.get("/counter/")
    assert r.status_code == 302 and r.headers["Location"] == "/counter/release"
    assert "in use by Rosa Diaz" in other.get("/counter/release").get_data(as_text=True)
    # the cashier signs in with the password: unlocked, same station
    again = client_for(app, cashier, token)
    assert not _locked(again)
    assert len(_active(sessions, station_id)) == 1


def test_one_cashier_per_station_until_sign_out(app, sessions, office):
    station_id, token = counter_station(sessions, office)
    first = client_for(app, staff(sessions, office, "cashier", full_name="Rosa Diaz"), token)
    assert first.get("/counter/").status_code == 200
    second_user = staff(sessions, office, "cashier")
    second = client_for(app, second_user, token)
    r = second.get("/counter/drawer/")
    assert r.status_code == 302 and r.headers["Location"] == "/counter/release"
    page = second.get("/counter/release").get_data(as_text=True)
    assert "Counter 1 is in use by Rosa Diaz" in page
    # the refused cashier is signed out, on the API too
    assert second.get("/api/v1/drawers/current").status_code == 401
    refused = audit_actions(sessions, "counter.sign_in_refused")
    assert refused[-1][1] == second_user.username
    # the first signs out: the station is free
    assert form_post(first, "/logout").status_code == 302
    assert _active(sessions, station_id) == []
    third = client_for(app, second_user, token)
    assert third.get("/counter/").status_code == 200


def test_api_refuses_a_held_station_with_the_holders_name(app, sessions, office):
    _, token = counter_station(sessions, office)
    first = client_for(app, staff(sessions, office, "cashier", full_name="Rosa Diaz"), token)
    first.get("/counter/")
    second = client_for(app, staff(sessions, office, "supervisor"), token)
    r = second.get("/api/v1/drawers/current")
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "station_held"
    assert r.get_json()["error"]["held_by"] == "Rosa Diaz"


def test_a_supervisor_releases_a_held_station(app, sessions, office):
    station_id, token = counter_station(sessions, office)
    first = client_for(app, staff(sessions, office, "cashier"), token)
    first.get("/counter/")
    boss = staff(sessions, office, "supervisor")
    from kiosk.auth import DEVICE_COOKIE

    door = app.test_client()
    door.set_cookie(DEVICE_COOKIE, token)
    door.csrf = __import__("tests.conftest", fromlist=["csrf_token"]).csrf_token(door, "/pair")
    r = form_post(
        door,
        "/counter/release",
        {"supervisor_username": boss.username, "supervisor_password": "wrong one"},
    )
    assert r.status_code == 403 and "Wrong" in r.get_data(as_text=True)
    assert len(_active(sessions, station_id)) == 1
    with sessions() as s:
        assert s.get(StaffUser, boss.id).failed_logins == 1
    assert audit_actions(sessions, "override.refused")[-1][2]["action"] == "station.release"
    r = form_post(
        door,
        "/counter/release",
        {"supervisor_username": boss.username, "supervisor_password": factories.PASSWORD},
    )
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert _active(sessions, station_id) == []
    assert audit_actions(sessions, "counter.released")[-1][1] == boss.username
    # the released cashier's session ends at its next request
    r = first.get("/counter/")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    # and someone else can now sign in there
    nxt = app.test_client()
    nxt.set_cookie(DEVICE_COOKIE, token)
    assert login(nxt, staff(sessions, office, "cashier").username).status_code == 302
    assert nxt.get("/counter/").status_code == 200


def test_set_a_pin(app, sessions, office):
    user = staff(sessions, office, "cashier", pin=None)
    c = client_for(app, user)
    assert c.get("/counter/pin").status_code == 200
    form_post(c, "/counter/lock")
    page = c.get("/counter/unlock").get_data(as_text=True)
    assert "You have no PIN yet" in page
    r = form_post(c, "/counter/unlock", {"pin": "1234"})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    c = client_for(app, user)
    for data, message in [
        ({"password": "wrong", "pin": "4826", "pin_confirm": "4826"}, "password is not right"),
        ({"password": factories.PASSWORD, "pin": "48a6", "pin_confirm": "48a6"}, "4 to 8 digits"),
        ({"password": factories.PASSWORD, "pin": "482", "pin_confirm": "482"}, "4 to 8 digits"),
        ({"password": factories.PASSWORD, "pin": "1234", "pin_confirm": "1234"}, "run like"),
        ({"password": factories.PASSWORD, "pin": "4826", "pin_confirm": "4827"}, "differ"),
    ]:
        r = form_post(c, "/counter/pin", data)
        assert r.status_code == 400 and message in r.get_data(as_text=True), data
    with sessions() as s:
        assert s.get(StaffUser, user.id).pin_hash is None
    r = form_post(
        c, "/counter/pin", {"password": factories.PASSWORD, "pin": "4826", "pin_confirm": "4826"}
    )
    assert r.status_code == 303
    with sessions() as s:
        assert check_secret(s.get(StaffUser, user.id).pin_hash, "4826")
    form_post(c, "/counter/lock")
    assert form_post(c, "/counter/unlock", {"pin": "4826"}).status_code == 303
    assert not _locked(c)


def test_every_counter_page_waits_for_the_pin(app, sessions, office):
    _, token = counter_station(sessions, office)
    c = client_for(app, staff(sessions, office, "cashier"), token)
    form_post(c, "/counter/lock")
    free = {"/counter/unlock", "/counter/release"}
    cashier = Principal(roles=frozenset({"cashier"}), user_id=c.user_id)
    pages = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/counter")
        and "GET" in rule.methods
        and not rule.arguments
        # supervisor-only pages refuse a cashier first (403), locked or not
        and cashier.may(app.view_functions[rule.endpoint].access_audiences)
    ]
    assert "/counter/drawer/" in pages and "/counter/pin" in pages
    for path in pages:
        r = c.get(path)
        if path in free:
            assert r.status_code == 200, path
        else:
            assert r.status_code == 302, path
            assert r.headers["Location"].startswith("/counter/unlock?next="), path
    r = form_post(c, "/counter/drawer/open", {"count-bill_1": "1"})
    assert r.status_code == 302 and r.headers["Location"] == "/counter/unlock"
