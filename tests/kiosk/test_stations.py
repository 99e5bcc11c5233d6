"""Stations: registration from the CLI, one-time pairing codes, the device cookie, and what a
paired kiosk may (not) reach."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from kiosk.auth import DEVICE_COOKIE
from kiosk.cli import station_group
from kiosk.models import Station
from payments.audit import AuditEvent
from payments.db import utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

_CODE = re.compile(r"pairing code(?: for '[^']+')?: ([A-Z0-9]{4}-[A-Z0-9]{4})")


def _cli(app, *args):
    return app.test_cli_runner().invoke(station_group, list(args))


def _add(app, name="Lobby kiosk", kind="kiosk") -> str:
    result = _cli(app, "add", name, "--kind", kind)
    assert result.exit_code == 0, result.output
    return _CODE.search(result.output).group(1)


def _pair(client, code: str):
    token = csrf_token(client, "/pair")
    return client.post("/pair", data={"code": code, "csrf_token": token})


def _station(sessions, name="Lobby kiosk") -> Station:
    with sessions() as s:
        return s.scalar(select(Station).where(Station.name == name))


def _actions(sessions) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_cli_add_prints_a_code_that_pairs_the_browser(app, client, sessions, office):
    code = _add(app)
    response = _pair(client, code)
    assert response.status_code == 302 and response.headers["Location"] == "/kiosk/"
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(DEVICE_COOKIE)]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert client.get("/kiosk/").status_code == 200

    station = _station(sessions)
    assert station.paired_at is not None and station.pairing_code_hash is None
    # Only a hash of the device token is stored.
    token = client.get_cookie(DEVICE_COOKIE).value
    assert token not in (station.device_token_hash or "")
    assert _actions(sessions)[-3:] == [
        "station.added",
        "station.pairing_code_issued",
        "station.paired",
    ]


def test_code_is_case_and_dash_insensitive(app, client, office):
    code = _add(app)
    assert _pair(client, code.lower().replace("-", " ")).headers["Location"] == "/kiosk/"


def test_code_works_once(app, client, sessions, office):
    code = _add(app)
    assert _pair(client, code).status_code == 302
    second = app.test_client()
    response = _pair(second, code)
    assert response.status_code == 400
    assert "That pairing code is not valid." in response.get_data(as_text=True)
    assert second.get_cookie(DEVICE_COOKIE) is None
    assert _actions(sessions)[-1] == "station.pairing_failed"


def test_expired_code_is_refused(app, client, sessions, office):
    code = _add(app)
    with sessions() as s:
        station = s.scalar(select(Station))
        station.pairing_expires_at = utcnow() - dt.timedelta(seconds=1)
        s.commit()
    response = _pair(client, code)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert client.get_cookie(DEVICE_COOKIE) is None
    with sessions() as s:
        entry = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert entry.action == "station.pairing_failed" and "expired" in entry.details


def test_reissued_code_unpairs_the_old_device(app, client, sessions, office):
    old_code = _add(app)
    assert _pair(client, old_code).status_code == 302
    assert client.get("/kiosk/").status_code == 200

    result = _cli(app, "pair-code", "Lobby kiosk")
    assert result.exit_code == 0, result.output
    new_code = _CODE.search(result.output).group(1)
    assert new_code != old_code

    # The old browser is nobody now: sent to sign in like any anonymous visitor.
    assert client.get("/kiosk/").status_code == 302
    replacement = app.test_client()
    assert _pair(replacement, new_code).status_code == 302
    assert replacement.get("/kiosk/").status_code == 200
    with sessions() as s:
        entry = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "station.pairing_code_issued")
            .order_by(AuditEvent.seq.desc())
        ).first()
        assert entry.actor == "cli" and '"unpaired_device": true' in entry.details


def test_kiosk_device_cannot_act_as_staff_even_with_a_staff_session(app, client, sessions, office):
    with sessions() as s:
        admin = factories.make_staff(s, "admin", roles=["admin", "cashier", "finance"])
        s.commit()
    assert login(client, admin.username).status_code == 302
    assert client.get("/admin/").status_code == 200

    # The same browser now carries a kiosk's device cookie next to the staff session.
    code = _add(app)
    kiosk = app.test_client()
    assert _pair(kiosk, code).status_code == 302
    client.set_cookie(DEVICE_COOKIE, kiosk.get_cookie(DEVICE_COOKIE).value)
    for page in ("/admin/", "/counter/", "/finance/", "/login"):
        assert client.get(page).status_code == 403, page
    assert client.get("/kiosk/").status_code == 200
    assert client.get("/").headers["Location"] == "/kiosk/"

    # Signing in from a kiosk is refused outright, right password or not.
    token = csrf_token(client, "/kiosk/")
    response = client.post(
        "/login",
        data={"username": admin.username, "password": factories.PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 403
    assert client.post("/logout", data={"csrf_token": token}).status_code == 403


def test_pairing_a_browser_drops_its_staff_session(app, client, sessions, office):
    with sessions() as s:
        user = factories.make_staff(s, "cashier")
        s.commit()
    login(client, user.username)
    code = _add(app, "Counter 1", "counter")
    response = _pair(client, code)
    assert response.headers["Location"] == "/login"  # a counter: staff sign in next
    assert client.get("/counter/").status_code == 302
    assert login(client, user.username).status_code == 302
    assert client.get("/counter/").status_code == 200


def test_disabled_station_cookie_stops_working(app, client, sessions, office):
    code = _add(app)
    _pair(client, code)
    assert client.get("/kiosk/").status_code == 200

    result = _cli(app, "disable", "Lobby kiosk")
    assert result.exit_code == 0, result.output
    assert client.get("/kiosk/").status_code == 302
    station = _station(sessions)
    assert not station.active and station.device_token_hash is None
    assert _actions(sessions)[-1] == "station.disabled"

    # A disabled station gets no new code.
    refused = _cli(app, "pair-code", "Lobby kiosk")
    assert refused.exit_code == 1 and "disabled" in refused.output
    listing = _cli(app, "list")
    assert "disabled" in listing.output


def test_cli_errors_are_clear(app, office):
    assert _cli(app, "add", "Lobby kiosk", "--kind", "kiosk").exit_code == 0
    again = _cli(app, "add", "Lobby kiosk", "--kind", "kiosk")
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = _cli(app, "pair-code", "No such station")
    assert unknown.exit_code == 1 and "No station named" in unknown.output
    other_office = _cli(app, "disable", "Lobby kiosk", "--office", "ZZ")
    assert other_office.exit_code == 1 and "no office" in other_office.output


def test_pairing_guesses_are_throttled_per_address(app, client, sessions, office):
    app.config["PAIR_MAX_FAILURES"] = 3
    code = _add(app)
    for guess in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"):
        assert _pair(client, guess).status_code == 400
    response = _pair(client, code)  # even the right code waits now
    assert response.status_code == 429
    assert "Wait 15 minutes" in response.get_data(as_text=True)
    assert client.get_cookie(DEVICE_COOKIE) is None
    assert _station(sessions).device_token_hash is None

    # The code is still good from another address.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.20.0.5"
    assert _pair(elsewhere, code).status_code == 302


def test_pair_form_without_code_or_token(app, client, sessions, office):
    token = csrf_token(client, "/pair")
    response = client.post("/pair", data={"code": "", "csrf_token": token})
    assert response.status_code == 400
    assert "Enter the pairing code." in response.get_data(as_text=True)
    code = _add(app)
    assert client.post("/pair", data={"code": code}).status_code == 400  # no CSRF token
    assert _station(sessions).device_token_hash is None
