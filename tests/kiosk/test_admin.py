"""The admin pages: stations and staff, admin role only, CSRF on every form, every change
audited under the admin's name."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from kiosk.auth import DEVICE_COOKIE
from kiosk.models import StaffUser, Station
from payments.audit import AuditEvent
from payments.db import utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

_CODE = re.compile(r'<p class="pairing-code"[^>]*>([A-Z0-9]{4}-[A-Z0-9]{4})</p>')


@pytest.fixture
def admin(client, login_as):
    user = login_as("admin")
    client.token = csrf_token(client, "/admin/")
    return user


def _post(client, url, **data):
    return client.post(url, data={"csrf_token": client.token, **data})


def _last_audit(sessions) -> AuditEvent:
    with sessions() as s:
        return s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()


def _pair(app, code):
    device = app.test_client()
    token = csrf_token(device, "/pair")
    response = device.post("/pair", data={"code": code, "csrf_token": token})
    return device, response


def test_admin_page_lists_stations_and_staff(client, sessions, office, admin):
    with sessions() as s:
        factories.make_station(s, s.merge(office), "kiosk", name="Lobby kiosk")
        s.commit()
    html = client.get("/admin/").get_data(as_text=True)
    assert "Lobby kiosk" in html and "waiting for pairing" in html
    assert admin.username in html
    assert html.count('name="csrf_token"') >= 4  # every form carries the token


def test_add_station_shows_the_code_once_and_it_pairs(app, client, sessions, office, admin):
    response = _post(
        client,
        "/admin/stations",
        name="Counter 2",
        kind="counter",
        office_id=str(office.id),
        printer_url="tcp://10.0.0.5:9100",
    )
    assert response.status_code == 201
    code = _CODE.search(response.get_data(as_text=True)).group(1)
    entry = _last_audit(sessions)
    assert entry.action == "station.pairing_code_issued" and entry.actor == admin.username
    # The code is nowhere else: not stored in clear, not in the session cookie.
    with sessions() as s:
        station = s.scalar(select(Station).where(Station.name == "Counter 2"))
        assert station.printer_url == "tcp://10.0.0.5:9100"
        assert code.replace("-", "") not in (station.pairing_code_hash or "")
    assert code not in client.get("/admin/").get_data(as_text=True)

    device, paired = _pair(app, code)
    assert paired.status_code == 302 and device.get_cookie(DEVICE_COOKIE) is not None


def test_add_station_with_bad_input_changes_nothing(client, sessions, office, admin):
    factories_count = _count_stations(sessions)
    response = _post(client, "/admin/stations", name="", kind="kiosk", office_id=str(office.id))
    assert response.status_code == 400
    assert "Nothing was changed" in response.get_data(as_text=True)
    response = _post(client, "/admin/stations", name="X", kind="printer", office_id=str(office.id))
    assert response.status_code == 400
    assert _count_stations(sessions) == factories_count


def _count_stations(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Station))


def test_reissue_code_and_disable_station(app, client, sessions, office, admin):
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "kiosk", name="Lobby kiosk")
        s.commit()
    old_device, _ = _pair(app, code)
    assert old_device.get("/kiosk/").status_code == 200

    response = _post(client, f"/admin/stations/{station.id}/pairing-code")
    assert response.status_code == 201
    new_code = _CODE.search(response.get_data(as_text=True)).group(1)
    assert old_device.get("/kiosk/").status_code == 302  # unpaired by the new code
    new_device, _ = _pair(app, new_code)
    assert new_device.get("/kiosk/").status_code == 200

    response = _post(client, f"/admin/stations/{station.id}/disable")
    assert response.status_code == 302
    assert new_device.get("/kiosk/").status_code == 302
    entry = _last_audit(sessions)
    assert (entry.action, entry.actor) == ("station.disabled", admin.username)

    again = _post(client, f"/admin/stations/{station.id}/pairing-code")
    assert again.status_code == 400 and "is disabled" in again.get_data(as_text=True)
    assert _post(client, "/admin/stations/999999/disable").status_code == 404


def test_add_user(app, client, sessions, office, admin):
    response = _post(
        client,
        "/admin/users",
        username="Maria.Lopez",
        full_name="María López",
        roles=["cashier", "supervisor"],
        password="a long enough password",
        pin="1357",
    )
    assert response.status_code == 302
    with sessions() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.username == "maria.lopez"))
        assert user.role_set == {"cashier", "supervisor"} and user.pin_hash
    entry = _last_audit(sessions)
    assert (entry.action, entry.actor) == ("staff.created", admin.username)
    assert "a long enough password" not in entry.details
    newcomer = app.test_client()
    assert login(newcomer, "maria.lopez", "a long enough password").status_code == 302


BAD_USERS = [
    ({"username": "x y", "roles": ["cashier"]}, "Usernames have"),
    ({"username": "short.pw", "roles": ["cashier"], "password": "short"}, "10 to 256"),
    ({"username": "no.roles", "roles": []}, "Roles"),
    ({"username": "bad.role", "roles": ["root"]}, "Roles"),
    ({"username": "bad.pin", "roles": ["cashier"], "pin": "12ab"}, "PIN"),
    ({"username": "u" * 65, "roles": ["cashier"]}, "Username"),
]


def test_add_user_with_bad_input_changes_nothing(client, sessions, admin):
    with sessions() as s:
        before = s.scalar(select(func.count()).select_from(StaffUser))
    for fields, message in BAD_USERS:
        data = {"full_name": "Somebody", "password": "a long enough password", **fields}
        response = _post(client, "/admin/users", **data)
        assert response.status_code == 400, fields
        assert message in response.get_data(as_text=True), fields
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StaffUser)) == before


def test_duplicate_username_is_refused(client, sessions, admin):
    response = _post(
        client,
        "/admin/users",
        username=admin.username,
        full_name="Someone Else",
        roles=["cashier"],
        password="a long enough password",
    )
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_disable_and_unlock_users(app, client, sessions, office, admin):
    with sessions() as s:
        cashier = factories.make_staff(s, "cashier")
        cashier.locked_until = utcnow() + dt.timedelta(minutes=10)
        cashier.failed_logins = 2
        s.commit()
    assert "locked" in client.get("/admin/").get_data(as_text=True)

    assert _post(client, f"/admin/users/{cashier.id}/unlock").status_code == 302
    with sessions() as s:
        unlocked = s.get(StaffUser, cashier.id)
        assert unlocked.locked_until is None and unlocked.failed_logins == 0
    assert (_last_audit(sessions).action, _last_audit(sessions).actor) == (
        "staff.unlocked",
        admin.username,
    )
    counter = app.test_client()
    assert login(counter, cashier.username).status_code == 302

    assert _post(client, f"/admin/users/{cashier.id}/disable").status_code == 302
    assert counter.get("/counter/").status_code == 302  # signed out at once
    assert _last_audit(sessions).action == "staff.disabled"

    # An admin cannot lock themselves (or the last admin) out.
    response = _post(client, f"/admin/users/{admin.id}/disable")
    assert response.status_code == 400
    assert "your own account" in response.get_data(as_text=True)
    assert _post(client, "/admin/users/999999/unlock").status_code == 404


def test_admin_pages_need_the_admin_role_and_a_token(client, sessions, login_as):
    login_as("supervisor")
    token = csrf_token(client, "/counter/")
    assert client.get("/admin/").status_code == 403
    for url in ("/admin/stations", "/admin/users", "/admin/users/1/unlock"):
        assert client.post(url, data={"csrf_token": token}).status_code == 403


def test_admin_forms_refuse_posts_without_token(client, sessions, office, admin):
    with sessions() as s:
        cashier = factories.make_staff(s, "cashier")
        s.commit()
    response = client.post(f"/admin/users/{cashier.id}/disable")
    assert response.status_code == 400
    with sessions() as s:
        assert s.get(StaffUser, cashier.id).active
