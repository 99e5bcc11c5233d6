"""Helpers for the counter lock, override, void/refund and drawer screen tests (brief D)."""

from __future__ import annotations

import re

from sqlalchemy import select

from kiosk.auth import DEVICE_COOKIE
from kiosk.stations import pair
from payments.audit import AuditEvent
from tests import factories
from tests.conftest import csrf_token, login

_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def counter_station(sessions, office, name="Counter 1") -> tuple[int, str]:
    """A paired counter station: (station id, device token)."""
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "counter", name=name)
        _, token = pair(s, code)
        s.commit()
        return station.id, token


def staff(sessions, office, role, **kw):
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id, **kw)
        s.commit()
        return user


def client_for(app, user, token: str | None = None, *, expect_login: bool = True):
    """A test client signed in as ``user`` (on the station whose device token is given)."""
    c = app.test_client()
    if token is not None:
        c.set_cookie(DEVICE_COOKIE, token)
    response = login(c, user.username)
    if expect_login:
        assert response.status_code == 302, response.get_data(as_text=True)
    c.user_id, c.username = user.id, user.username
    c.csrf = csrf_token(c, "/pair")
    return c


def form_post(c, url, data=None, **kw):
    """POST a form with the client's CSRF token."""
    return c.post(url, data={"csrf_token": c.csrf, **(data or {})}, **kw)


def audit_actions(sessions, prefix: str = "") -> list[tuple[str, str, dict]]:
    import json

    with sessions() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.details).order_by(AuditEvent.seq)
        ).all()
    return [(a, actor, json.loads(d or "{}")) for a, actor, d in rows if a.startswith(prefix)]
