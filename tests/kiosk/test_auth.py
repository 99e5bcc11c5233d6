"""Staff sign-in and sign-out over real HTTP requests against the app (both databases)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from kiosk import create_app
from kiosk.models import StaffUser
from payments.audit import AuditEvent
from payments.db import utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


def _user(sessions, office, role="cashier", **kw) -> StaffUser:
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id, **kw)
        s.commit()
        return user


def _reload(sessions, user_id: int) -> StaffUser:
    with sessions() as s:
        return s.get(StaffUser, user_id)


def _audit(sessions, action: str) -> list[AuditEvent]:
    with sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_login_success_goes_home_and_is_audited(client, sessions, office):
    user = _user(sessions, office)
    response = login(client, user.username)
    assert response.status_code == 302
    assert response.headers["Location"] == "/counter/"
    assert client.get("/counter/").status_code == 200
    [entry] = _audit(sessions, "login.succeeded")
    assert entry.actor == user.username and entry.entity_id == str(user.id)
    assert _reload(sessions, user.id).last_login_at is not None


def test_roles_land_on_their_own_page(client, sessions, office):
    for role, page in [("finance", "/finance/"), ("admin", "/admin/"), ("supervisor", "/counter/")]:
        user = _user(sessions, office, role)
        c = client.application.test_client()
        assert login(c, user.username).headers["Location"] == page


def test_wrong_password_is_refused_counted_and_audited(client, sessions, office):
    user = _user(sessions, office)
    response = login(client, user.username, "wrong password!")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert _reload(sessions, user.id).failed_logins == 1
    [entry] = _audit(sessions, "login.failed")
    assert entry.actor == user.username
    assert client.get("/counter/").status_code == 302  # still signed out


def test_lockout_after_max_failures_then_unlock_after_lockout_time(app, client, sessions, office):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = _user(sessions, office)
    for _ in range(3):
        assert login(client, user.username, "wrong password!").status_code == 401
    locked = _reload(sessions, user.id)
    assert locked.locked_until is not None and locked.locked_until > utcnow()

    # The right password does not help while locked, and the message says why.
    response = login(client, user.username)
    assert response.status_code == 401
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert len(_audit(sessions, "login.refused")) == 1
    failed = _audit(sessions, "login.failed")
    assert len(failed) == 3 and "locked_until" in failed[-1].details

    # The lockout time passes (moved in the database rather than waited for).
    with sessions() as s:
        s.get(StaffUser, user.id).locked_until = utcnow() - dt.timedelta(seconds=1)
        s.commit()
    assert login(client, user.username).status_code == 302
    assert _reload(sessions, user.id).locked_until is None


def test_unknown_user_gets_the_same_answer(client, sessions, office):
    response = login(client, "nobody.here", "whatever password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    [entry] = _audit(sessions, "login.failed")
    assert entry.actor == "nobody.here" and '"unknown user"' in entry.details


def test_inactive_user_cannot_sign_in_and_is_signed_out(app, client, sessions, office):
    user = _user(sessions, office)
    assert login(client, user.username).status_code == 302
    with sessions() as s:
        s.get(StaffUser, user.id).active = False
        s.commit()
    # The open session ends on the next request ...
    assert client.get("/counter/").status_code == 302
    # ... and signing in again fails exactly like a wrong password.
    other = app.test_client()
    response = login(other, user.username)
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert '"inactive user"' in _audit(sessions, "login.failed")[-1].details


def test_empty_form_gets_a_clear_message_and_changes_nothing(client, sessions, office):
    token = csrf_token(client)
    response = client.post("/login", data={"username": "", "password": "", "csrf_token": token})
    assert response.status_code == 400
    assert "Enter your username and password." in response.get_data(as_text=True)
    assert _audit(sessions, "login.failed") == []


OFFSITE_TARGETS = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "/\t/evil.example",
    "/%0a/evil.example\n",
    "javascript:alert(1)",
    "http:/evil.example",
    "evil.example",
]


def test_open_redirect_is_refused(app, sessions, office):
    user = _user(sessions, office)
    for target in OFFSITE_TARGETS:
        c = app.test_client()
        token = csrf_token(c)
        response = c.post(
            "/login",
            query_string={"next": target},
            data={"username": user.username, "password": factories.PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/counter/", target


def test_local_next_is_followed(client, sessions, office):
    user = _user(sessions, office, "admin")
    # An anonymous visit to a staff page is sent to sign in, remembering where it was going.
    first = client.get("/admin/?tab=staff")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/login?next=")
    token = csrf_token(client)
    response = client.post(
        first.headers["Location"],
        data={"username": user.username, "password": factories.PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin/?tab=staff"


def test_logout_needs_post_and_csrf(client, sessions, office):
    user = _user(sessions, office)
    login(client, user.username)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no token: refused, still signed in
    assert client.get("/counter/").status_code == 200
    assert _audit(sessions, "logout") == []

    token = csrf_token(client, "/counter/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/counter/").status_code == 302
    [entry] = _audit(sessions, "logout")
    assert entry.actor == user.username


def test_sign_in_starts_a_fresh_session(client, sessions, office):
    user = _user(sessions, office)
    before = csrf_token(client)
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    login(client, user.username)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == str(user.id)
    assert csrf_token(client, "/counter/") != before


def _set_cookie_header(response, name: str) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header


def test_session_cookie_flags(client, sessions, office):
    user = _user(sessions, office)
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": user.username, "password": factories.PASSWORD, "csrf_token": token},
    )
    header = _set_cookie_header(response, "payoffice_session")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # plain HTTP in tests and the demo
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_is_secure_when_configured(database_url, engine, tmp_path):
    app = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "secure"),
            "SECRET_KEY": "secure-test",
            "SESSION_COOKIE_SECURE": True,
        }
    )
    try:
        response = app.test_client().get("/login", base_url="https://localhost")
        header = _set_cookie_header(response, "payoffice_session")
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.extensions["payoffice.db"].engine.dispose()


def test_failed_sign_ins_are_throttled_per_address(app, client, sessions, office):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    user = _user(sessions, office)
    for name in ("spray.one", "spray.two", "spray.three"):
        assert login(client, name, "guessed password").status_code == 401
    audited = len(_audit(sessions, "login.failed"))

    response = login(client, user.username)  # even the right password waits now
    assert response.status_code == 429
    assert "Wait 15 minutes" in response.get_data(as_text=True)
    assert len(_audit(sessions, "login.failed")) == audited
    assert _audit(sessions, "login.succeeded") == []

    # Another address (another counter) is not affected.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert login(other, user.username).status_code == 302


def test_a_password_typed_as_username_stays_out_of_the_log(client, sessions, office):
    response = login(client, "Tr0ub4dor&3 secret!", "anything at all")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert 'aria-describedby="login-error"' in html and 'aria-invalid="true"' in html
    [entry] = _audit(sessions, "login.failed")
    assert entry.actor == "(not a username)" and "Tr0ub4dor" not in entry.details


def _client_behind_proxy(app, forwarded_for: str):
    """A browser seen through one reverse proxy (10.0.0.2) that forwards its address."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    return client


def test_behind_one_proxy_each_forwarded_client_has_its_own_limit(
    database_url, engine, tmp_path, sessions, office
):
    app = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "proxied"),
            "SECRET_KEY": "proxy-test",
            "PROXY_HOPS": 1,
            "LOGIN_MAX_FAILURES_PER_ADDRESS": 2,
        }
    )
    try:
        user = _user(sessions, office)
        # The proxy appends the real address; whatever the client wrote before it is ignored.
        sprayer = _client_behind_proxy(app, "198.51.100.1, 203.0.113.5")
        for name in ("spray.one", "spray.two"):
            assert login(sprayer, name, "guessed password").status_code == 401
        assert login(sprayer, user.username).status_code == 429
        forged = _client_behind_proxy(app, "203.0.113.6, 203.0.113.5")  # same real client
        assert login(forged, user.username).status_code == 429
        neighbour = _client_behind_proxy(app, "203.0.113.77")  # same proxy, another client
        assert login(neighbour, user.username).status_code == 302
    finally:
        app.extensions["payoffice.db"].engine.dispose()


def test_without_proxy_hops_the_forwarded_header_is_ignored(app, sessions, office):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 2
    user = _user(sessions, office)
    for forged in ("203.0.113.1", "203.0.113.2"):
        client = _client_behind_proxy(app, forged)
        assert login(client, f"spray.{forged}", "guessed password").status_code == 401
    # Different forged addresses, one real address (10.0.0.2): the limit holds.
    assert login(_client_behind_proxy(app, "203.0.113.3"), user.username).status_code == 429
