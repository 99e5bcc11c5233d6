"""Counter drawer screens: open with a float counted by denomination, drops and pickups with a
reason, the blind close (the expected figure is shown only after the count), and a
supervisor's approval of an over/short beyond the tolerance or of a reopen."""

from __future__ import annotations

import datetime as dt
import uuid

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from kiosk import db, override
from kiosk.access import access
from kiosk.models import StaffUser, Station
from kiosk.security import current_principal
from kiosk.views.counter_override import form_supervisor
from payments import drawer as drawers
from payments.db import CLOCK, office_time
from payments.models import DENOMINATIONS, CountPhase, DrawerSession, DrawerStatus
from payments.money import AmountError, format_amount, parse_amount
from payments.states import PaymentError

bp = Blueprint("counter_drawer", __name__)

BILLS = [d for d in DENOMINATIONS if d.startswith("bill_")]
COINS = [d for d in DENOMINATIONS if d.startswith("coin_")]
MOVEMENT_KINDS = [
    ("drop", "Drop to the safe"),
    ("pickup", "Pickup by a supervisor"),
    ("paid_in", "Paid-in (change from the safe)"),
]


@bp.app_template_filter("office_time")
def office_time_filter(at: dt.datetime | None, fmt: str = CLOCK) -> str:
    """A stored UTC instant on the office's clock (America/Los_Angeles), e.g. "9:05 AM"."""
    return office_time(at, fmt)


def denomination_label(name: str) -> str:
    kind, value = name.split("_")
    if kind == "bill":
        return f"${value} bill"
    return {"100": "$1 coin", "50": "50¢", "25": "25¢", "10": "10¢", "5": "5¢", "1": "1¢"}[value]


@bp.context_processor
def _helpers():
    return {
        "usd": format_amount,
        "bills": BILLS,
        "coins": COINS,
        "denominations": DENOMINATIONS,
        "denomination_label": denomination_label,
        "movement_kinds": MOVEMENT_KINDS,
    }


def _station(session) -> Station | None:
    station_id = current_principal().station_id
    station = session.get(Station, station_id) if station_id is not None else None
    return station if station is not None and station.kind == "counter" else None


def _visible(session, drawer_id: int) -> DrawerSession | None:
    """A drawer of the caller's office; a cashier only their own."""
    drawer = session.get(DrawerSession, drawer_id)
    principal = current_principal()
    user = session.get(StaffUser, principal.user_id)
    if drawer is None or (user.office_id is not None and drawer.office_id != user.office_id):
        return None
    if "supervisor" not in principal.roles and drawer.cashier_id != principal.user_id:
        return None
    return drawer


def _form_counts() -> dict[str, str]:
    """The typed count per denomination; blank boxes count zero."""
    counts = {}
    for name in DENOMINATIONS:
        value = (request.form.get(f"count-{name}") or "").strip()
        if value:
            counts[name] = value
    return counts


def _tolerance() -> int:
    return int(current_app.config.get("DRAWER_TOLERANCE_CENTS", drawers.DEFAULT_TOLERANCE_CENTS))


def _key() -> str:
    return uuid.uuid4().hex


@bp.route("/", methods=["GET"])
@access("cashier", "supervisor")
def index(error: str | None = None, status: int = 200):
    session = db.session()
    station = _station(session)
    drawer = drawers.open_drawer_at(session, station.id) if station else None
    holder = session.get(StaffUser, drawer.cashier_id) if drawer is not None else None
    last_closed = None
    if station is not None and drawer is None:
        last_closed = session.scalars(
            select(DrawerSession)
            .where(
                DrawerSession.station_id == station.id,
                DrawerSession.cashier_id == current_principal().user_id,
                DrawerSession.status == DrawerStatus.CLOSED,
            )
            .order_by(DrawerSession.closed_at.desc())
        ).first()
    return render_template(
        "counter/drawer.html",
        station=station,
        drawer=drawer,
        mine=drawer is not None and drawer.cashier_id == current_principal().user_id,
        holder=holder,
        last_closed=last_closed,
        error=error,
        form=request.form,
        key=_key(),
    ), status


@bp.route("/open", methods=["POST"])
@access("cashier", "supervisor")
def open_drawer():
    session = db.session()
    station = _station(session)
    if station is None:
        return index(error="Open a drawer from a paired counter station.", status=400)
    try:
        drawer, _ = drawers.open_drawer(
            session,
            office_id=station.office_id,
            station_id=station.id,
            cashier_id=current_principal().user_id,
            counts=_form_counts(),
            actor=current_user.username,
            key=(request.form.get("key") or "")[:64] or None,
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return index(error=exc.message, status=exc.status)
    flash(f"Drawer open with a float of {format_amount(drawer.float_cents)}.")
    return redirect(url_for("counter_drawer.index")), 303


def _own_open_drawer(session) -> DrawerSession | None:
    station = _station(session)
    drawer = drawers.open_drawer_at(session, station.id) if station else None
    if drawer is None or drawer.cashier_id != current_principal().user_id:
        return None
    return drawer


@bp.route("/movement", methods=["POST"])
@access("cashier", "supervisor")
def movement():
    session = db.session()
    drawer = _own_open_drawer(session)
    if drawer is None:
        return index(error="You have no open drawer at this station.", status=409)
    kind = request.form.get("kind")
    try:
        try:
            amount = parse_amount((request.form.get("amount") or "").strip())
        except AmountError as exc:
            raise drawers.DrawerError("bad_amount", exc.message) from exc
        moved, _ = drawers.record_movement(
            session,
            drawer,
            kind=kind,
            amount_cents=amount,
            reason=request.form.get("reason"),
            staff_user_id=current_principal().user_id,
            actor=current_user.username,
            key=(request.form.get("key") or "")[:64] or _key(),
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return index(error=exc.message, status=exc.status)
    label = dict(MOVEMENT_KINDS).get(moved.kind, moved.kind)
    flash(f"{label}: {format_amount(moved.amount_cents)} recorded.")
    return redirect(url_for("counter_drawer.index")), 303


@bp.route("/close", methods=["GET", "POST"])
@access("cashier", "supervisor")
def close():
    session = db.session()
    drawer = _own_open_drawer(session)
    if drawer is None:
        flash("You have no open drawer at this station.")
        return redirect(url_for("counter_drawer.index")), 303
    checks = drawers.recorded_checks(session, drawer)
    error, status = None, 200
    if request.method == "POST":
        try:
            ticked = set(request.form.getlist("check"))
            if request.form.get("checks_listed") != str(len(checks)):
                raise drawers.DrawerError(
                    "checks_changed", "The list of checks changed meanwhile: tick them again."
                )
            counted = [c for i, c in enumerate(checks) if str(i) in ticked]
            session.expire(drawer)  # read it again under the row lock
            drawer = drawers.get_drawer(session, drawer.id, lock=True)
            drawers.close_drawer(
                session,
                drawer,
                counts=_form_counts(),
                checks_count=len(counted),
                checks_cents=sum(c.amount_cents for c in counted),
                closed_by_id=current_principal().user_id,
                tolerance_cents=_tolerance(),
                actor=current_user.username,
                key=(request.form.get("key") or "")[:64] or None,
            )
            session.commit()
        except PaymentError as exc:
            session.rollback()
            error, status = exc.message, exc.status
        else:
            return redirect(url_for("counter_drawer.result", drawer_id=drawer.id)), 303
    return render_template(
        "counter/drawer_close.html",
        drawer=drawer,
        checks=checks,
        error=error,
        form=request.form,
        key=_key(),
    ), status


@bp.route("/<int:drawer_id>", methods=["GET"])
@access("cashier", "supervisor")
def result(
    drawer_id: int,
    error: str | None = None,
    status: int = 200,
    error_for: str | None = None,
    supervisor_error: bool = False,
):
    session = db.session()
    drawer = _visible(session, drawer_id)
    if drawer is None:
        flash("No such drawer.")
        return redirect(url_for("counter_drawer.index")), 303
    if drawer.status != DrawerStatus.CLOSED:
        return redirect(url_for("counter_drawer.index")), 303
    names = {
        u.id: u.full_name
        for u in session.scalars(
            select(StaffUser).where(
                StaffUser.id.in_([i for i in (drawer.cashier_id, drawer.approved_by_id) if i])
            )
        )
    }
    return render_template(
        "counter/drawer_result.html",
        drawer=drawer,
        counts=drawers.counts_of(drawer, CountPhase.CLOSE),
        awaiting=drawers.awaiting_approval(drawer),
        names=names,
        tolerance=_tolerance(),
        is_supervisor="supervisor" in current_principal().roles,
        own=drawer.cashier_id == current_principal().user_id,
        error=error,
        error_for=error_for,
        supervisor_error=supervisor_error,
        form=request.form,
    ), status


def _approval(drawer_id: int, action: str):
    """Approve an over/short or reopen a closed drawer with a supervisor's approval."""
    session = db.session()
    form = action.removeprefix("drawer.")
    drawer = _visible(session, drawer_id)
    if drawer is None:
        flash("No such drawer.")
        return redirect(url_for("counter_drawer.index")), 303
    try:
        reason = (request.form.get("reason") or "").strip()
        if action == "drawer.reopen" and not reason:
            raise drawers.DrawerError("reason_required", "Give a reason to reopen the drawer.")
        supervisor_id = form_supervisor(
            session,
            action=action,
            entity="drawer",
            entity_id=drawer.id,
            cashier_id=drawer.cashier_id,
        )
        session.expire(drawer)  # read it again under the row lock
        drawer = drawers.get_drawer(session, drawer.id, lock=True)
        if action == "drawer.approve":
            drawers.approve_drawer(
                session,
                drawer,
                supervisor_id=supervisor_id,
                actor=current_user.username,
                note=reason[: drawers.MAX_REASON] or None,
            )
            message = "The over/short is approved."
        else:
            drawers.reopen_drawer(
                session,
                drawer,
                supervisor_id=supervisor_id,
                actor=current_user.username,
                reason=reason,
            )
            message = "The drawer is open again: count it again to close."
        session.commit()
    except override.OverrideError as exc:
        return result(
            drawer_id,
            error=exc.message,
            status=exc.status,
            error_for=form,
            supervisor_error=exc.code in override.SUPERVISOR_CODES,
        )
    except PaymentError as exc:
        session.rollback()
        return result(drawer_id, error=exc.message, status=exc.status, error_for=form)
    flash(message)
    if action == "drawer.reopen":
        return redirect(url_for("counter_drawer.index")), 303
    return redirect(url_for("counter_drawer.result", drawer_id=drawer.id)), 303


@bp.route("/<int:drawer_id>/approve", methods=["POST"])
@access("cashier", "supervisor")
def approve(drawer_id: int):
    return _approval(drawer_id, "drawer.approve")


@bp.route("/<int:drawer_id>/reopen", methods=["POST"])
@access("cashier", "supervisor")
def reopen(drawer_id: int):
    return _approval(drawer_id, "drawer.reopen")
