"""Counter stations for supervisors: which stations of the office are held, by whom, since
when, locked or not, and "Free this station" from the supervisor's own screen (no typed
credentials: the supervisor is signed in; the audit entry names them).

The lock check of kiosk.views.counter_lock runs first, as on every counter page: the
supervisor's own request holds their paired station (or none on an unpaired browser)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, g, redirect, render_template, url_for

from kiosk import db, signins
from kiosk.access import access
from kiosk.api.common import caller_office_id
from kiosk.models import StaffUser
from kiosk.views.counter_lock import current_sign_in
from payments.db import DATE_AND_CLOCK, business_date, office_time

bp = Blueprint("counter_stations", __name__)


def _when(at: dt.datetime | None) -> str:
    """Office clock; with the date when it is not today (a sign-in left from yesterday)."""
    if at is not None and business_date(at) != business_date():
        return office_time(at, DATE_AND_CLOCK)
    return office_time(at)


@bp.get("/stations")
@access("supervisor")
def index():
    """The office's held counter stations, each with a "Free this station" button."""
    session = db.session()
    office_id = caller_office_id()
    own = current_sign_in()
    rows = [
        {
            "held": held,
            "since": _when(held.started_at),
            "last_activity": _when(held.last_activity_at),
            "locked_since": _when(held.locked_at) if held.locked else None,
            "own": own is not None and own.id == held.sign_in_id,
        }
        for held in (signins.active_sign_ins(session, office_id) if office_id else [])
    ]
    return render_template("counter/stations.html", rows=rows, has_office=office_id is not None)


@bp.post("/stations/<int:sign_in_id>/release")
@access("supervisor")
def release(sign_in_id: int):
    """End one sign-in (refused, nothing changed: ended, another office's, or one's own)."""
    session = db.session()
    office_id = caller_office_id()
    own = current_sign_in()
    if office_id is None:
        flash("This station or user belongs to no office: nothing was changed.")
        return redirect(url_for("counter_stations.index")), 303
    try:
        held = signins.release(
            session,
            sign_in_id,
            office_id=office_id,
            supervisor=session.get(StaffUser, g.principal.user_id),
            own_sign_in_id=own.id if own is not None else None,
        )
    except signins.SignInError as exc:
        session.rollback()
        flash(exc.message)
    else:
        session.commit()
        flash(
            f"{held.station} is free: {held.cashier} is signed out there at their next "
            "click. Anyone may sign in at it now."
        )
    return redirect(url_for("counter_stations.index")), 303
