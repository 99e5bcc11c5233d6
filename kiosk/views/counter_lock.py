"""Counter lock: the PIN page, lock and unlock, one cashier per station, and the check that
runs before every counter page and API call.

While a cashier's sign-in is locked (the "Lock" button, Alt+L, or
PAYOFFICE_COUNTER_LOCK_SECONDS without activity) every counter page redirects to
/counter/unlock and every API call answers 423. The state lives in ``kiosk.signins``.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user, user_logged_out

from kiosk import db, override, signins
from kiosk.access import access
from kiosk.auth import RATE_WINDOW, _safe_next, current_station
from kiosk.models import StaffUser
from kiosk.security import api_error, client_address, rate_limit_count, rate_limit_hit
from payments.db import OFFICE_TZ

bp = Blueprint("counter_lock", __name__)
SESSION_KEY = "counter_sign_in"
COUNTER_ROLES = frozenset({"cashier", "supervisor"})
# Endpoints a locked cashier may still reach (the rest of the counter waits for the PIN).
UNLOCKED_ENDPOINTS = frozenset(
    {"counter_lock.unlock", "counter_lock.lock", "counter_lock.release", "auth.logout", "static"}
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/counter")
    app.before_request(_check_counter_session)
    app.context_processor(_lock_context)
    user_logged_out.connect(_on_logout, app)


def _lock_seconds() -> int:
    return int(current_app.config.get("COUNTER_LOCK_SECONDS", 300))


def _is_counter_request() -> bool:
    path = request.path
    return path == "/counter" or path.startswith("/counter/") or path.startswith("/api/")


def _counter_staff() -> bool:
    principal = g.get("principal")
    return bool(
        principal is not None
        and principal.user_id is not None
        and not principal.is_kiosk
        and principal.roles & COUNTER_ROLES
    )


def current_sign_in() -> signins.CounterSignIn | None:
    """This browser session's active counter sign-in, if it has one."""
    sign_in_id = session.get(SESSION_KEY)
    if not isinstance(sign_in_id, int):
        return None
    sign_in = db.session().get(signins.CounterSignIn, sign_in_id)
    if sign_in is None or sign_in.staff_user_id != g.principal.user_id:
        return None
    return sign_in


def _sign_out(message: str, *, keep_station: bool = False):
    g.keep_counter_sign_in = keep_station
    logout_user()
    session.clear()
    if request.path.startswith("/api/"):
        return api_error(401, "unauthenticated", message)
    flash(message)
    return redirect(url_for("auth.login"))


def _check_counter_session():
    if request.endpoint is None or not _is_counter_request() or not _counter_staff():
        return None
    dbs = db.session()
    api = request.path.startswith("/api/")
    sign_in_id = session.get(SESSION_KEY)
    sign_in = current_sign_in()
    if sign_in is None:
        if sign_in_id is not None:
            return _sign_out("This station was released. Sign in again.")
        user = dbs.get(StaffUser, g.principal.user_id)
        try:
            sign_in = signins.start(dbs, user, g.principal.station_id)
            dbs.commit()
        except signins.SignInError as exc:
            dbs.commit()  # keep the audit entry of the refusal
            g.keep_counter_sign_in = True
            logout_user()
            session.clear()
            if api:
                return api_error(409, exc.code, exc.message, **exc.extra)
            flash(exc.message)
            return redirect(url_for("counter_lock.release"))
        session[SESSION_KEY] = sign_in.id
    elif not sign_in.active:
        return _sign_out("A supervisor released this station. Sign in again.")
    if request.endpoint in UNLOCKED_ENDPOINTS:
        return None
    activity = not api or request.method not in ("GET", "HEAD")
    locked = signins.touch(
        dbs,
        sign_in,
        lock_seconds=_lock_seconds(),
        actor=current_user.username,
        activity=activity,
    )
    dbs.commit()
    if not locked:
        return None
    if api or request.endpoint == "counter_lock.heartbeat":
        return api_error(423, "counter_locked", "This counter is locked: unlock it with your PIN.")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("counter_lock.unlock", next=target))


def _on_logout(app, user=None, **_):
    """Signing out frees the station (unless the PIN ran out: the cashier still holds it)."""
    if g.get("keep_counter_sign_in"):
        return
    sign_in_id = session.get(SESSION_KEY)
    if not isinstance(sign_in_id, int):
        return
    dbs = db.session()
    sign_in = dbs.get(signins.CounterSignIn, sign_in_id)
    if sign_in is not None and user is not None and sign_in.staff_user_id == int(user.id):
        signins.end(dbs, sign_in, reason="signed_out", actor=user.username)
        dbs.commit()


def _lock_context() -> dict:
    """What the staff layout needs for the Lock button and the idle timer."""
    if not has_request_context() or request.endpoint in UNLOCKED_ENDPOINTS:
        return {"counter_lock": None}
    if not _is_counter_request():
        return {"counter_lock": None}
    if not _counter_staff() or request.path.startswith("/api/"):
        return {"counter_lock": None}
    return {
        "counter_lock": {
            "seconds": _lock_seconds(),
            "lock_url": url_for("counter_lock.lock"),
            "unlock_url": url_for("counter_lock.unlock"),
            "heartbeat_url": url_for("counter_lock.heartbeat"),
        }
    }


@bp.route("/lock", methods=["POST"])
@access("cashier", "supervisor")
def lock():
    """Lock now (the Lock button, Alt+L, or the idle timer in counter-lock.js)."""
    sign_in = current_sign_in()
    if sign_in is not None:
        reason = "idle" if request.form.get("reason") == "idle" else "button"
        signins.lock(db.session(), sign_in, reason=reason, actor=current_user.username)
        db.session().commit()
    return redirect(url_for("counter_lock.unlock")), 303


@bp.route("/heartbeat", methods=["POST"])
@access("cashier", "supervisor")
def heartbeat():
    """The page saw keyboard or mouse use: keep the counter unlocked (the check ran already)."""
    return jsonify({"locked": False})


@bp.route("/unlock", methods=["GET", "POST"])
@access("cashier", "supervisor")
def unlock():
    dbs = db.session()
    sign_in = current_sign_in()
    target = _safe_next(request.args.get("next")) or url_for("counter.index")
    if sign_in is None or sign_in.locked_at is None:
        return redirect(target)
    user = dbs.get(StaffUser, sign_in.staff_user_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            signins.unlock(dbs, sign_in, user, request.form.get("pin"))
        except signins.SignInError as exc:
            dbs.commit()
            if exc.code in ("pin_attempts", "no_pin"):
                return _sign_out(exc.message, keep_station=True)
            error, status = exc.message, 400
        else:
            dbs.commit()
            return redirect(target), 303
    return render_template(
        "counter/unlock.html", user=user, error=error, has_pin=bool(user.pin_hash)
    ), status


@bp.route("/pin", methods=["GET", "POST"])
@access("cashier", "supervisor")
def pin():
    dbs = db.session()
    user = dbs.get(StaffUser, g.principal.user_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            signins.set_pin(
                dbs,
                user,
                request.form.get("password"),
                request.form.get("pin"),
                (request.form.get("pin_confirm") or "").strip(),
            )
        except signins.SignInError as exc:
            dbs.rollback()
            error, status = exc.message, 400
        else:
            dbs.commit()
            flash("Your PIN is set. Use it to unlock the counter after a break.")
            return redirect(url_for("counter.index")), 303
    return render_template("counter/pin.html", error=error, has_pin=bool(user.pin_hash)), status


@bp.route("/release", methods=["GET", "POST"])
@access("guest")
def release():
    """A supervisor frees this station, held by a cashier who is away, with their own
    credentials typed here."""
    dbs = db.session()
    station = current_station()
    held = signins.holder(dbs, station.id) if station is not None else None
    error, status = None, 200
    if request.method == "POST" and held is not None:
        address_key = f"login:{client_address()}"
        limit = int(current_app.config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 50))
        if rate_limit_count(dbs, address_key) >= limit:
            error, status = "Too many failed sign-ins from this device. Wait 15 minutes.", 429
        else:
            try:
                supervisor = override.verify_supervisor(
                    dbs,
                    request.form.get("supervisor_username"),
                    request.form.get("supervisor_password"),
                    cashier_id=held.staff_user_id,
                    action="station.release",
                    policy=override.policy_from(current_app.config),
                    source=client_address(),
                    entity="station",
                    entity_id=station.id,
                )
            except override.OverrideError as exc:
                if exc.status != 400:
                    rate_limit_hit(dbs, address_key, RATE_WINDOW)
                dbs.commit()
                error, status = exc.message, exc.status
            else:
                signins.end(dbs, held, reason="released", actor=supervisor.username)
                dbs.commit()
                flash(f"{station.name} is free. Sign in to work here.")
                return redirect(url_for("auth.login")), 303
    return render_template(
        "counter/release.html",
        station=station,
        holder=signins.holder_name(dbs, held) if held is not None else None,
        since=held.started_at.astimezone(OFFICE_TZ).strftime("%-I:%M %p") if held else None,
        error=error,
    ), status
