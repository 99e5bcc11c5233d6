"""Request-wide protections: deny by default, CSRF, security headers, the rate limiter."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import jsonify
from sqlalchemy import func, select

from kiosk import create_app
from kiosk.access import access
from kiosk.models import RateLimitBucket, StaffUser
from kiosk.security import (
    CONTENT_SECURITY_POLICY,
    check_every_route_declares_access,
    rate_limit_count,
    rate_limit_hit,
)
from payments import audit
from payments.audit import AuditEvent
from payments.db import utcnow
from tests import factories
from tests.conftest import csrf_token
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


@pytest.fixture
def app(engine, database_url, tmp_path):
    """The real app plus two routes that exist only in these tests: an undeclared one and an
    /api/v1 POST that writes an audit entry (so "changes nothing" can be checked)."""
    application = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "security-tests",
        }
    )

    def undeclared():
        return "should never be served"

    @access("cashier")
    def api_probe():
        from kiosk import db

        session = db.session()
        audit.record(session, "test.probe", actor="probe")
        session.commit()
        return jsonify({"ok": True}), 201

    application.add_url_rule("/undeclared", view_func=undeclared)
    application.add_url_rule("/api/v1/_probe", view_func=api_probe, methods=["POST"])
    yield application
    application.extensions["payoffice.db"].engine.dispose()


def _count(sessions, model, *where) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


# -- deny by default --------------------------------------------------------------------------


def test_route_without_access_declaration_is_refused(app, client, login_as):
    login_as("admin", roles=["admin", "cashier", "supervisor", "finance"])
    assert client.get("/undeclared").status_code == 403
    with pytest.raises(RuntimeError, match="/undeclared"):
        check_every_route_declares_access(app)


def test_anonymous_is_sent_to_sign_in_or_gets_401(client):
    html = client.get("/counter/")
    assert html.status_code == 302 and html.headers["Location"] == "/login?next=/counter/"
    api = client.post("/api/v1/_probe")
    assert api.status_code == 401
    assert api.get_json() == {"error": {"code": "unauthenticated", "message": "Sign in first."}}


def test_signed_in_without_the_role_gets_403(client, login_as):
    login_as("finance")
    assert client.get("/counter/").status_code == 403
    response = client.post(
        "/api/v1/_probe", headers={"X-CSRFToken": csrf_token(client, "/finance/")}
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


# -- CSRF ---------------------------------------------------------------------------------------


def test_html_form_post_without_token_is_refused_and_changes_nothing(app, client, sessions, office):
    with sessions() as s:
        user = factories.make_staff(s, "cashier")
        s.commit()
    before = _count(sessions, AuditEvent)
    response = client.post("/login", data={"username": user.username, "password": "wrong one!"})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    assert _count(sessions, AuditEvent) == before
    with sessions() as s:
        assert s.get(StaffUser, user.id).failed_logins == 0

    # A token from another session is no better than none.
    other = app.test_client()
    token = csrf_token(other)
    response = client.post(
        "/login",
        data={"username": user.username, "password": "wrong one!", "csrf_token": token},
    )
    assert response.status_code == 400
    assert _count(sessions, AuditEvent) == before


def test_admin_form_post_without_token_changes_nothing(client, sessions, login_as):
    login_as("admin")
    users = _count(sessions, StaffUser)
    response = client.post(
        "/admin/users",
        data={
            "username": "new.cashier",
            "full_name": "New Cashier",
            "roles": "cashier",
            "password": "long enough password",
        },
    )
    assert response.status_code == 400
    assert _count(sessions, StaffUser) == users


def test_api_post_needs_the_csrf_header(client, sessions, login_as):
    login_as("cashier")
    before = _count(sessions, AuditEvent)
    refused = client.post("/api/v1/_probe", json={})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert _count(sessions, AuditEvent) == before

    wrong = client.post("/api/v1/_probe", json={}, headers={"X-CSRFToken": "forged.token"})
    assert wrong.status_code == 400
    assert _count(sessions, AuditEvent) == before

    token = csrf_token(client, "/counter/")
    accepted = client.post("/api/v1/_probe", json={}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201
    assert _count(sessions, AuditEvent, AuditEvent.action == "test.probe") == 1


# -- headers ------------------------------------------------------------------------------------


def _assert_security_headers(response, *, cacheable: bool = False):
    h = response.headers
    assert h["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "unsafe-inline" not in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "no-referrer"
    if not cacheable:
        assert h["Cache-Control"] == "no-store"


def test_security_headers_on_html_json_and_errors(client, login_as):
    responses = {
        "html page": client.get("/login"),
        "json": client.get("/healthz"),
        "html redirect": client.get("/finance/"),
        "html 404": client.get("/no/such/page"),
        "api 404": client.get("/api/v1/no-such-thing"),
        "api 401": client.post("/api/v1/_probe"),
        "html 405": client.get("/logout"),
        "csrf 400": client.post("/login", data={}),
    }
    login_as("cashier")
    responses["html 403"] = client.get("/admin/")
    responses["api csrf 400"] = client.post("/api/v1/_probe", json={})
    for name, response in responses.items():
        assert response.status_code in (200, 302, 400, 401, 403, 404, 405), name
        _assert_security_headers(response)
    assert responses["html 404"].mimetype == "text/html"
    assert responses["api 404"].get_json()["error"]["code"] == "not_found"
    assert responses["api 404"].mimetype == "application/json"


def test_static_files_carry_the_headers_but_may_be_cached(client):
    response = client.get("/static/css/staff.css")
    assert response.status_code == 200
    _assert_security_headers(response, cacheable=True)
    assert response.headers.get("Cache-Control") != "no-store"
    response.close()


def test_error_handlers_answer_json_for_api_and_html_otherwise(client, login_as):
    api = client.get("/api/v1/nothing-here")
    assert set(api.get_json()["error"]) == {"code", "message"}
    page = client.get("/nothing-here")
    assert "Nothing was found at this address." in page.get_data(as_text=True)


# -- rate limiter -------------------------------------------------------------------------------


def test_rate_limit_counts_per_key_and_restarts_after_the_window(sessions):
    window = dt.timedelta(minutes=15)
    with sessions() as s:
        assert rate_limit_count(s, "pair:10.0.0.1") == 0
        assert [rate_limit_hit(s, "pair:10.0.0.1", window) for _ in range(3)] == [1, 2, 3]
        assert rate_limit_hit(s, "pair:10.0.0.2", window) == 1
        s.commit()
        assert rate_limit_count(s, "pair:10.0.0.1") == 3

        # The window passes: the count starts again, and stale buckets are swept away.
        for bucket in s.scalars(select(RateLimitBucket)):
            bucket.expires_at = utcnow() - dt.timedelta(seconds=1)
        s.commit()
        assert rate_limit_count(s, "pair:10.0.0.1") == 0
        assert rate_limit_hit(s, "pair:10.0.0.1", window) == 1
        s.commit()
        assert s.scalars(select(RateLimitBucket.key)).all() == ["pair:10.0.0.1"]


def test_rate_limit_hits_from_parallel_workers_are_all_counted(sessions):
    from concurrent.futures import ThreadPoolExecutor

    def hit(_):
        with sessions() as s:
            rate_limit_hit(s, "login:10.0.0.9", dt.timedelta(minutes=5))
            s.commit()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(hit, range(24)))
    with sessions() as s:
        assert rate_limit_count(s, "login:10.0.0.9") == 24


def test_config_secure_cookie_defaults_to_production(tmp_path):
    from kiosk import config

    cfg = config.load(
        environ={"PAYOFFICE_ENV": "production", "PAYOFFICE_SECRET_KEY": "x" * 40},
        overrides={"INSTANCE_PATH": str(tmp_path)},
    )
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    with pytest.raises(config.ConfigError):
        config.load(
            environ={"PAYOFFICE_ENV": "production"}, overrides={"INSTANCE_PATH": str(tmp_path)}
        )
