"""Finance: the business day screen. The day's status with who and when, the daily
reconciliation on screen (payments.reports.daily_report plus the drawers' over/short), and the
close: begin closing (finance's checklist, no lock), close (clean or with an audited
exception) and reopen (finance plus a supervisor typing their own credentials)."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from kiosk import db
from kiosk.access import access
from kiosk.models import StaffUser
from kiosk.override import OverrideError, policy_from, verify_supervisor
from kiosk.reports.drawers import day_drawer_rows
from kiosk.security import client_address
from kiosk.views.finance_common import PageError, finance_office, me, page_day
from payments import audit, days
from payments.db import DATE_AND_CLOCK, business_date, office_time
from payments.money import format_amount
from payments.reports import daily_report
from payments.states import PaymentError

bp = Blueprint("finance_day", __name__)

DAY_ACTIONS = ("day.closing", "day.closed", "day.closed_with_exception", "day.reopened")


def _money(cents: int | None) -> str:
    return "" if cents is None else format_amount(cents)


def _local(at: dt.datetime | None) -> str:
    return office_time(at, DATE_AND_CLOCK)


def _drawers(office_id: int, day: dt.date) -> list:
    """The day's cash drawers with station and cashier names, open ones first."""
    return day_drawer_rows(db.session(), office_id, day)


def _history(office_code: str, day: dt.date) -> list[tuple[audit.AuditEvent, dict]]:
    """The day's status changes from the audit log, each with its parsed details."""
    events = list(
        db.session().scalars(
            select(audit.AuditEvent)
            .where(
                audit.AuditEvent.entity == "business_day",
                audit.AuditEvent.entity_id == f"{office_code}:{day.isoformat()}",
                audit.AuditEvent.action.in_(DAY_ACTIONS),
            )
            .order_by(audit.AuditEvent.seq)
        )
    )
    history = [(e, json.loads(e.details or "{}")) for e in events]
    ids = {d.get("supervisor_id") for _, d in history if d.get("supervisor_id")}
    names = (
        dict(
            db.session()
            .execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids)))
            .all()
        )
        if ids
        else {}
    )
    for _, details in history:
        if details.get("supervisor_id"):
            details["approved_by"] = names.get(details["supervisor_id"], "?")
    return history


def _page(day: dt.date, *, error: str | None = None, status: int = 200, form=None):
    session = db.session()
    office = finance_office()
    record = days.get_day(session, office.id, day)
    drawers = _drawers(office.id, day)
    return (
        render_template(
            "finance/day.html",
            office=office,
            day=day,
            today=business_date(),
            previous_day=day - dt.timedelta(days=1),
            next_day=day + dt.timedelta(days=1) if day < business_date() else None,
            record=record,
            day_status=record.status if record is not None else "open",
            history=_history(office.code, day),
            blockers=days.close_blockers(session, office.id, day),
            open_drawers=[d for d in drawers if d[0].status == "open"],
            drawers=drawers,
            report=daily_report(session, office.id, day),
            money=_money,
            local=_local,
            error=error,
            form=form or {},
        ),
        status,
    )


def _posted_day() -> dt.date:
    return page_day(request.form.get("date"))


@bp.route("/day")
@access("finance")
def day_page():
    try:
        day = page_day(request.args.get("date"))
    except PageError as exc:
        return _page(business_date(), error=exc.message, status=400)
    return _page(day)


@bp.route("/day/closing", methods=["POST"])
@access("finance")
def begin_closing():
    session = db.session()
    try:
        day = _posted_day()
    except PageError as exc:
        return _page(business_date(), error=exc.message, status=400)
    try:
        _, blockers = days.begin_closing(session, finance_office().id, day, current_user.username)
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return _page(day, error=exc.message, status=exc.status)
    held = (
        f"{days.counted(len(blockers), 'item')} still {'holds' if len(blockers) == 1 else 'hold'}"
        " the day."
    )
    flash(f"Closing {day.isoformat()}: " + (held if blockers else "nothing holds it."))
    return redirect(url_for("finance_day.day_page", date=day.isoformat()), 303)


@bp.route("/day/close", methods=["POST"])
@access("finance")
def close():
    session = db.session()
    form = request.form
    try:
        day = _posted_day()
    except PageError as exc:
        return _page(business_date(), error=exc.message, status=400)
    try:
        outcome = days.close_day(
            session,
            finance_office().id,
            day,
            current_user.username,
            exception=form.get("exception") or None,
            closed_by_id=me(),
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return _page(day, error=exc.message, status=exc.status, form=form)
    if outcome.already_closed:
        flash(f"The day {day.isoformat()} was already closed.")
    elif outcome.blockers:
        flash(f"The day {day.isoformat()} is closed with an exception.")
    else:
        flash(f"The day {day.isoformat()} is closed.")
    return redirect(url_for("finance_day.day_page", date=day.isoformat()), 303)


@bp.route("/day/reopen", methods=["POST"])
@access("finance")
def reopen():
    session = db.session()
    form = request.form
    try:
        day = _posted_day()
    except PageError as exc:
        return _page(business_date(), error=exc.message, status=400)
    office = finance_office()
    entity_id = f"{office.code}:{day.isoformat()}"
    try:
        supervisor = verify_supervisor(
            session,
            form.get("supervisor_username"),
            form.get("supervisor_password"),
            cashier_id=me(),
            action="day.reopen",
            policy=policy_from(current_app.config),
            source=f"finance-day:{client_address()}",
            entity="business_day",
            entity_id=entity_id,
        )
    except OverrideError as exc:
        session.commit()  # keep the failure count and the audit entry
        return _page(day, error=f"Reopen refused: {exc.message}", status=exc.status, form=form)
    try:
        days.reopen_day(
            session,
            office.id,
            day,
            finance_user_id=me(),
            supervisor_id=supervisor.id,
            reason=form.get("reason") or "",
            actor=current_user.username,
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return _page(day, error=exc.message, status=exc.status, form=form)
    flash(f"The day {day.isoformat()} is reopened (approved by {supervisor.full_name}).")
    return redirect(url_for("finance_day.day_page", date=day.isoformat()), 303)
