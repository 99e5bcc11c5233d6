"""Staff sign-in (Flask-Login), kiosk/counter device pairing, and who the caller is."""

from __future__ import annotations

import datetime as dt
import re

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from kiosk import db, stations
from kiosk.access import ANONYMOUS, Principal, access
from kiosk.models import StaffUser, Station
from kiosk.security import client_address, rate_limit_count, rate_limit_hit
from kiosk.staff import MAX_PASSWORD, LoginPolicy, StaffError, authenticate

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
DEVICE_COOKIE = "payoffice_device"

# Failed attempts allowed per remote address and window (overridable in the app config).
# Pairing codes are short, so their guessing is throttled hard; sign-in failures per address
# catch password spraying across accounts, which the per-account lockout does not.
PAIR_MAX_FAILURES = 10
LOGIN_MAX_FAILURES_PER_ADDRESS = 50
RATE_WINDOW = dt.timedelta(minutes=15)


class SessionUser(UserMixin):
    """What Flask-Login keeps: the id and roles, not the ORM object."""

    def __init__(self, user: StaffUser):
        self.id = str(user.id)
        self.username = user.username
        self.full_name = user.full_name
        self.roles = user.role_set


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load(user_id: str):
        if not user_id.isdigit():
            return None
        user = db.session().get(StaffUser, int(user_id))
        return SessionUser(user) if user is not None and user.active else None

    @app.context_processor
    def _principal():
        return {"principal": g.get("principal", ANONYMOUS)}


def current_station() -> Station | None:
    """The paired station this browser belongs to, from its device cookie."""
    if "station" not in g:
        token = request.cookies.get(DEVICE_COOKIE)
        g.station = stations.station_for_token(db.session(), token) if token else None
    return g.station


def resolve_principal() -> Principal:
    station = current_station()
    if station is not None and station.kind == "kiosk":
        return Principal(roles=frozenset({"kiosk"}), station_id=station.id, is_kiosk=True)
    station_id = station.id if station is not None else None
    if current_user.is_authenticated:
        return Principal(
            roles=frozenset(current_user.roles),
            user_id=int(current_user.id),
            station_id=station_id,
        )
    return Principal(station_id=station_id)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)])


class PairForm(FlaskForm):
    code = StringField("Pairing code", validators=[DataRequired(), Length(max=32)])


# A local path only: one leading slash, then plain URL characters. Backslashes, control
# characters and "//" are refused because browsers read "/\evil.example" (a backslash) or
# "/<TAB>/evil.example" as "//evil.example", a link to another site.
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")


def _safe_next(target: str | None) -> str | None:
    if not target or len(target) > 512 or not _LOCAL_PATH.fullmatch(target):
        return None
    return target


def _limit(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def home_for(principal: Principal) -> str:
    if principal.is_kiosk:
        return url_for("customer.start")
    if principal.roles & {"cashier", "supervisor"}:
        return url_for("counter.index")
    if "finance" in principal.roles:
        return url_for("finance.index")
    if "admin" in principal.roles:
        return url_for("admin.index")
    return url_for("auth.login")


@bp.route("/login", methods=["GET", "POST"])
@access("guest")
def login():
    form = LoginForm()
    error = None
    status = 200
    if request.method == "POST":
        dbs = db.session()
        address_key = f"login:{client_address()}"
        limit = _limit("LOGIN_MAX_FAILURES_PER_ADDRESS", LOGIN_MAX_FAILURES_PER_ADDRESS)
        if rate_limit_count(dbs, address_key) >= limit:
            error, status = "Too many failed sign-ins from this device. Wait 15 minutes.", 429
        elif not form.validate():
            error, status = _login_form_problem(form), 400
        else:
            policy = LoginPolicy(
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                lockout=dt.timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]),
            )
            try:
                user = authenticate(
                    dbs,
                    form.username.data,
                    form.password.data,
                    policy,
                    source=client_address(),
                )
            except StaffError as exc:
                rate_limit_hit(dbs, address_key, RATE_WINDOW)
                dbs.commit()  # keep the failure count and the audit entry
                error, status = exc.message, 401
            else:
                dbs.commit()
                # A fresh session: nothing from before sign-in (a planted session id, an old
                # CSRF token, a kiosk's language) is carried into the staff session.
                session.clear()
                login_user(SessionUser(user))
                principal = Principal(roles=user.role_set, user_id=user.id)
                return redirect(_safe_next(request.args.get("next")) or home_for(principal))
    return render_template("auth/login.html", form=form, error=error), status


def _login_form_problem(form: LoginForm) -> str:
    if not form.username.data or not form.password.data:
        return "Enter your username and password."
    return "Wrong username or password."


@bp.route("/logout", methods=["POST"])
@access("staff")
def logout():
    from payments import audit

    dbs = db.session()
    audit.record(
        dbs,
        "logout",
        actor=current_user.username,
        entity="staff_user",
        entity_id=current_user.id,
        details={"source": client_address()},
    )
    dbs.commit()
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@bp.route("/pair", methods=["GET", "POST"])
@access("public")
def pair():
    """A station's browser enters the code an admin printed once; it then holds a cookie."""
    # ?code= prefills the form (the demo prints such a link); pairing still needs the POST.
    prefill = request.args.get("code", "")[:32] if request.method == "GET" else ""
    form = PairForm(code=prefill) if prefill else PairForm()
    error = None
    status = 200
    if request.method == "POST":
        dbs = db.session()
        address_key = f"pair:{client_address()}"
        if rate_limit_count(dbs, address_key) >= _limit("PAIR_MAX_FAILURES", PAIR_MAX_FAILURES):
            error, status = "Too many wrong codes from this device. Wait 15 minutes.", 429
        elif not form.validate():
            error, status = "Enter the pairing code.", 400
        else:
            try:
                station, token = stations.pair(dbs, form.code.data, source=client_address())
            except stations.StationError as exc:
                rate_limit_hit(dbs, address_key, RATE_WINDOW)
                dbs.commit()
                error, status = exc.message, 400
            else:
                dbs.commit()
                g.station = station
                # The browser now belongs to a station; no staff sign-in rides along with it.
                session.clear()
                kiosk = station.kind == "kiosk"
                response = redirect(url_for("customer.start" if kiosk else "auth.login"))
                response.set_cookie(
                    DEVICE_COOKIE,
                    token,
                    max_age=10 * 365 * 24 * 3600,
                    httponly=True,
                    secure=current_app.config["SESSION_COOKIE_SECURE"],
                    samesite="Strict",
                )
                return response
    return render_template("auth/pair.html", form=form, error=error), status
