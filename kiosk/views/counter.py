"""The counter station (cashiers and supervisors): printer alert and receipt reprints.

Taking payments, the queue and the drawer screens build on this page (counter issue)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for

from kiosk import db, receipting
from kiosk.access import access
from kiosk.models import StaffUser, Station
from kiosk.security import current_principal

bp = Blueprint("counter", __name__)


def _office_id(session) -> int | None:
    principal = current_principal()
    if principal.station_id is not None:
        station = session.get(Station, principal.station_id)
        if station is not None:
            return station.office_id
    user = session.get(StaffUser, principal.user_id) if principal.user_id else None
    return user.office_id if user else None


@bp.route("/")
@access("cashier", "supervisor")
def index():
    session = db.session()
    office_id = _office_id(session)
    problems = receipting.print_problems(session, office_id) if office_id else []
    station = (
        session.get(Station, current_principal().station_id)
        if current_principal().station_id
        else None
    )
    return render_template("counter/index.html", problems=problems, station=station)


@bp.route("/reprint", methods=["POST"])
@access("cashier", "supervisor")
def reprint():
    """Reprint a receipt (marked REPRINT) at this station's printer."""
    number = (request.form.get("receipt_number") or "").strip().upper()
    session = db.session()
    principal = current_principal()
    try:
        payment = receipting.find_payment(session, number) if number else None
    except receipting.ReceiptNotFound:
        payment = None
    if payment is None or payment.office_id != _office_id(session):
        flash(f"No receipt {number or '(blank)'} was found. Check the number and try again.")
        return redirect(url_for("counter.index")), 303
    user = session.get(StaffUser, principal.user_id)
    receipting.reprint(
        session, payment, station_id=principal.station_id, actor=user.username, copies=1
    )
    session.commit()
    flash(f"Receipt {number} sent to the printer, marked REPRINT.")
    return redirect(url_for("counter.index")), 303
