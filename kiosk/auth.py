"""Staff sign-in (Flask-Login), kiosk/counter device pairing, and who the caller is."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from kiosk import db, stations
from kiosk.access import ANONYMOUS, Principal, access
from kiosk.models import StaffUser, Station
from kiosk.staff import LoginPolicy, StaffError, authenticate

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
DEVICE_COOKIE = "payoffice_device"


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
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class PairForm(FlaskForm):
    code = StringField("Pairing code", validators=[DataRequired(), Length(max=32)])


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


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
    if form.validate_on_submit():
        session = db.session()
        policy = LoginPolicy(
            max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            lockout=dt.timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]),
        )
        try:
            user = authenticate(
                session,
                form.username.data,
                form.password.data,
                policy,
                source=request.remote_addr or "",
            )
        except StaffError as exc:
            session.commit()  # keep the failure count and the audit entry
            error = exc.message
        else:
            session.commit()
            login_user(SessionUser(user))
            principal = Principal(roles=user.role_set, user_id=user.id)
            return redirect(_safe_next(request.args.get("next")) or home_for(principal))
    elif request.method == "POST":
        error = "Enter your username and password."
    status = 401 if error and request.method == "POST" else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@access("staff")
def logout():
    from payments import audit

    session = db.session()
    audit.record(
        session,
        "logout",
        actor=current_user.username,
        entity="staff_user",
        entity_id=current_user.id,
    )
    session.commit()
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@bp.route("/pair", methods=["GET", "POST"])
@access("public")
def pair():
    """A station's browser enters the code an admin printed once; it then holds a cookie."""
    form = PairForm()
    error = None
    if form.validate_on_submit():
        session = db.session()
        try:
            station, token = stations.pair(session, form.code.data)
        except stations.StationError as exc:
            session.commit()
            error = exc.message
        else:
            session.commit()
            g.station = station
            target = url_for("customer.start") if station.kind == "kiosk" else url_for("auth.login")
            response = redirect(target)
            response.set_cookie(
                DEVICE_COOKIE,
                token,
                max_age=10 * 365 * 24 * 3600,
                httponly=True,
                secure=current_app.config["SESSION_COOKIE_SECURE"],
                samesite="Strict",
            )
            return response
    elif request.method == "POST":
        error = "Enter the pairing code."
    return render_template("auth/pair.html", form=form, error=error), (400 if error else 200)
