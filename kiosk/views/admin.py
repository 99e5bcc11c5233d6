"""Administration: stations (add, re-issue pairing code, disable) and staff (add, disable,
unlock). Admin role only; every form carries a CSRF token and every change is audited."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from kiosk import db, stations
from kiosk.access import access
from kiosk.models import Office, StaffUser, Station
from kiosk.staff import MAX_PASSWORD, StaffError, create_user, disable_user, unlock_user
from payments.db import utcnow

bp = Blueprint("admin", __name__)

ROLE_CHOICES = [
    SelectChoice("cashier", "Cashier"),
    SelectChoice("supervisor", "Supervisor"),
    SelectChoice("finance", "Finance"),
    SelectChoice("admin", "Admin"),
]


class StationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    kind = SelectField(
        "Kind", choices=[SelectChoice("kiosk", "Kiosk"), SelectChoice("counter", "Counter")]
    )
    office_id = SelectField("Office", coerce=int)
    printer_url = StringField("Printer URL", validators=[Optional(), Length(max=255)])
    reader_id = StringField("Card reader id", validators=[Optional(), Length(max=64)])


class UserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    roles = SelectMultipleField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    pin = StringField("Counter PIN (optional)", validators=[Optional(), Length(max=8)])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def _actor() -> str:
    return current_user.username


def _station_form(session) -> StationForm:
    form = StationForm()
    offices = session.scalars(select(Office).order_by(Office.code)).all()
    form.office_id.choices = [SelectChoice(o.id, f"{o.code} – {o.name}") for o in offices]
    if form.office_id.data is None:
        default = next((o.id for o in offices if o.code == current_app.config["OFFICE_CODE"]), None)
        form.office_id.data = default
    return form


def _index(station_form=None, user_form=None, errors=(), status: int = 200):
    session = db.session()
    station_list = session.scalars(select(Station).order_by(Station.office_id, Station.name)).all()
    users = session.scalars(select(StaffUser).order_by(StaffUser.username)).all()
    return (
        render_template(
            "admin/index.html",
            stations=station_list,
            users=users,
            station_form=station_form or _station_form(session),
            user_form=user_form or UserForm(formdata=None),
            action_form=ActionForm(formdata=None),
            now=utcnow(),
            errors=list(errors),
        ),
        status,
    )


def _form_errors(form: FlaskForm) -> list[str]:
    return [f"{form[name].label.text}: {msg}" for name, msgs in form.errors.items() for msg in msgs]


@bp.route("/")
@access("admin")
def index():
    return _index()


@bp.route("/stations", methods=["POST"])
@access("admin")
def add_station():
    session = db.session()
    form = _station_form(session)
    if not form.validate():
        return _index(station_form=form, errors=_form_errors(form), status=400)
    office = session.get(Office, form.office_id.data)
    minutes = current_app.config["PAIRING_CODE_MINUTES"]
    try:
        station, code = stations.add_station(
            session,
            office,
            form.name.data,
            form.kind.data,
            printer_url=(form.printer_url.data or "").strip() or None,
            reader_id=(form.reader_id.data or "").strip() or None,
            pairing_minutes=minutes,
            actor=_actor(),
        )
    except stations.StationError as exc:
        return _index(station_form=form, errors=[exc.message], status=400)
    session.commit()
    return _pairing_code_page(station, code, minutes)


def _pairing_code_page(station: Station, code: str, minutes: int):
    # Shown in this response only: never stored in clear, flashed or put in a URL.
    return render_template(
        "admin/pairing_code.html", station=station, code=code, minutes=minutes
    ), 201


def _get_station(station_id: int) -> Station:
    station = db.session().get(Station, station_id)
    if station is None:
        abort(404)
    return station


@bp.route("/stations/<int:station_id>/pairing-code", methods=["POST"])
@access("admin")
def reissue_pairing_code(station_id: int):
    session = db.session()
    station = _get_station(station_id)
    minutes = current_app.config["PAIRING_CODE_MINUTES"]
    try:
        code = stations.issue_pairing_code(session, station, minutes, actor=_actor())
    except stations.StationError as exc:
        return _index(errors=[exc.message], status=400)
    session.commit()
    return _pairing_code_page(station, code, minutes)


@bp.route("/stations/<int:station_id>/disable", methods=["POST"])
@access("admin")
def disable_station(station_id: int):
    session = db.session()
    station = _get_station(station_id)
    try:
        stations.disable_station(session, station, actor=_actor())
    except stations.StationError as exc:
        return _index(errors=[exc.message], status=400)
    session.commit()
    flash(f"Station {station.name} is disabled; its browser no longer works.")
    return redirect(url_for("admin.index"))


@bp.route("/users", methods=["POST"])
@access("admin")
def add_user():
    session = db.session()
    form = UserForm()
    if not form.validate():
        return _index(user_form=form, errors=_form_errors(form), status=400)
    try:
        user = create_user(
            session,
            form.username.data,
            form.full_name.data,
            form.password.data,
            form.roles.data,
            pin=form.pin.data or None,
            actor=_actor(),
        )
    except StaffError as exc:
        session.rollback()
        return _index(user_form=form, errors=[exc.message], status=400)
    session.commit()
    flash(f"User {user.username} added.")
    return redirect(url_for("admin.index"))


def _get_user(user_id: int) -> StaffUser:
    user = db.session().get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@access("admin")
def disable_staff_user(user_id: int):
    session = db.session()
    user = _get_user(user_id)
    try:
        disable_user(session, user, actor=_actor(), actor_id=int(current_user.id))
    except StaffError as exc:
        return _index(errors=[exc.message], status=400)
    session.commit()
    flash(f"User {user.username} is disabled.")
    return redirect(url_for("admin.index"))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@access("admin")
def unlock_staff_user(user_id: int):
    session = db.session()
    user = _get_user(user_id)
    unlock_user(session, user, actor=_actor())
    session.commit()
    flash(f"User {user.username} can sign in again.")
    return redirect(url_for("admin.index"))
