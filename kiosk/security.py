"""Request-wide protections: deny-by-default access checks, CSRF, security headers, and a
database-backed rate limiter shared by every web worker."""

from __future__ import annotations

import datetime as dt

from flask import Flask, abort, g, jsonify, redirect, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import case, delete, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiosk.access import ANONYMOUS, Principal
from kiosk.models import RateLimitBucket
from payments.db import UTCDateTime, utcnow

csrf = CSRFProtect()

# No inline scripts or styles, nothing from other origins: the kiosk talks only to this server.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def is_api_request() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/webhooks/stripe")


def api_error(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def current_principal() -> Principal:
    return g.get("principal", ANONYMOUS)


def init_app(app: Flask) -> None:
    hops = app.config.get("PROXY_HOPS") or 0
    if hops < 0:
        raise ValueError("PAYOFFICE_PROXY_HOPS must be 0 or more")
    if hops:
        # Behind that many reverse proxies, believe the address and scheme they forward
        # (the last `hops` entries of X-Forwarded-For / -Proto); a client cannot forge them.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    # The access check is registered before CSRFProtect's own hook so that it runs first: a
    # caller without access gets 401/403 whatever it posts, and only callers who may use a
    # route are told about a missing token.
    @app.before_request
    def _enforce_access():
        endpoint = request.endpoint
        if endpoint is None:
            return None  # 404 / 405 are handled by Flask
        view = app.view_functions.get(endpoint)
        audiences = getattr(view, "access_audiences", None)
        from kiosk.auth import resolve_principal

        principal = resolve_principal()
        g.principal = principal
        if audiences is None:
            abort(403)
        if principal.may(audiences):
            return None
        if principal is ANONYMOUS or (not principal.roles and not principal.is_kiosk):
            if is_api_request():
                return api_error(401, "unauthenticated", "Sign in first.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)

    csrf.init_app(app)

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if request.endpoint != "static":
            # Nothing personal may be kept in the browser's cache or history pages.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(err):
        if is_api_request():
            return api_error(400, "csrf_failed", "The security token is missing or expired.")
        return _html_error(400, "The form expired. Please go back, reload the page and try again.")

    for status, code, message in [
        (400, "bad_request", "The request could not be understood."),
        (401, "unauthenticated", "Sign in first."),
        (403, "forbidden", "You do not have access to this."),
        (404, "not_found", "Nothing was found at this address."),
        (405, "method_not_allowed", "This method is not allowed here."),
        (413, "too_large", "The upload is too large."),
        (429, "rate_limited", "Too many requests. Please wait a minute and try again."),
        (500, "server_error", "Something went wrong on our side. Nothing was changed."),
    ]:
        app.register_error_handler(status, _error_handler(status, code, message))


def _error_handler(status: int, code: str, message: str):
    def handle(_err):
        if is_api_request():
            return api_error(status, code, message)
        return _html_error(status, message)

    return handle


def _html_error(status: int, message: str):
    from flask import render_template

    return render_template("base/error.html", status=status, message=message), status


def check_every_route_declares_access(app: Flask) -> None:
    """Fail at start-up if a route was registered without ``@access`` (deny is the fallback,
    but an undeclared route is a programming mistake worth catching early)."""
    static = app.view_functions.get("static")
    if static is not None:
        static.access_audiences = frozenset({"public"})
    missing = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "access_audiences", None) is None
    ]
    if missing:
        raise RuntimeError(f"routes without an @access declaration: {missing}")


def client_address() -> str:
    """The caller's address, as the WSGI server (or a configured ProxyFix) reports it."""
    return (request.remote_addr or "unknown")[:64]


def rate_limit_count(session: Session, key: str) -> int:
    """Hits counted for ``key`` in its current window (0 once the window has passed)."""
    bucket = session.get(RateLimitBucket, key, populate_existing=True)
    if bucket is None or bucket.expires_at <= utcnow():
        return 0
    return bucket.hits


def rate_limit_hit(session: Session, key: str, window: dt.timedelta) -> int:
    """Count one hit for ``key`` and return the count in the current window.

    One atomic upsert, so concurrent workers never lose a hit; a window that has passed
    starts again at 1. Expired buckets of every key are removed on the way.
    """
    now = utcnow()
    now_param = literal(now, UTCDateTime)
    expired = RateLimitBucket.expires_at <= now_param
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(RateLimitBucket).values(key=key, hits=1, expires_at=now + window)
    stmt = stmt.on_conflict_do_update(
        index_elements=[RateLimitBucket.key],
        set_={
            "hits": case((expired, 1), else_=RateLimitBucket.hits + 1),
            "expires_at": case(
                (expired, literal(now + window, UTCDateTime)), else_=RateLimitBucket.expires_at
            ),
        },
    ).returning(RateLimitBucket.hits)
    hits = session.execute(stmt).scalar_one()
    session.execute(
        delete(RateLimitBucket)
        .where(RateLimitBucket.expires_at <= now_param, RateLimitBucket.key != key)
        .execution_options(synchronize_session=False)
    )
    return hits
