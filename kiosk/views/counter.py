"""The counter station (cashiers and supervisors): the cashier's hub, printer alert and
receipt reprints. The queue, account, payment, override and drawer screens live in their
own blueprints (counter_queue, counter_accounts, counter_override, counter_drawer); the hub
links to an endpoint only when it is registered."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import db, queue, receipting
from kiosk.access import access
from kiosk.models import QueueTicket, StaffUser, Station
from kiosk.security import current_principal
from payments import drawer as drawers
from payments.db import OFFICE_TZ, business_date
from payments.models import Payment, PaymentStatus
from payments.money import format_amount

bp = Blueprint("counter", __name__)

# Hub action -> the endpoints that may serve it, first registered wins.
LINKS: dict[str, tuple[str, ...]] = {
    "search": ("counter_accounts.search",),
    "call_next": ("counter_queue.call_next",),
    "queue": ("counter_queue.index",),
    "walk_in": ("counter_queue.walk_in",),
    "visits": ("counter_queue.visit_log",),
    "drawer": ("counter_drawer.index",),
    "lock": ("counter_lock.lock",),
    "queue_api": ("api.get_queue",),
    "pin": ("counter_lock.pin",),
    "measures": ("finance_measures.dashboard",),
    "review": ("finance_review.index",),
    "stations": ("counter_stations.index",),
}
LANGUAGES = {"en": "English", "es": "Spanish", "vi": "Vietnamese"}


def _office_id(session) -> int | None:
    principal = current_principal()
    if principal.station_id is not None:
        station = session.get(Station, principal.station_id)
        if station is not None:
            return station.office_id
    user = session.get(StaffUser, principal.user_id) if principal.user_id else None
    return user.office_id if user else None


def _links() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for action, endpoints in LINKS.items():
        endpoint = next((e for e in endpoints if e in current_app.view_functions), None)
        found[action] = url_for(endpoint) if endpoint else None
    return found


def _recent_receipts(session, station_id: int | None, limit: int = 4) -> list[dict]:
    """This counter's latest receipts today, newest first (to reprint or void quickly)."""
    if station_id is None:
        return []
    payments = session.scalars(
        select(Payment)
        .where(
            Payment.station_id == station_id,
            Payment.business_date == business_date(),
            Payment.receipt_number.is_not(None),
        )
        .order_by(Payment.created_at.desc())
        .limit(limit)
    ).all()
    show = "counter_accounts.payment" in current_app.view_functions
    return [
        {
            "number": p.receipt_number,
            "url": url_for("counter_accounts.payment", payment_id=p.id) if show else None,
            "time": p.created_at.astimezone(OFFICE_TZ).strftime("%-I:%M %p"),
            "amount": format_amount(p.amount_cents),
            "void": p.status == PaymentStatus.VOIDED,
        }
        for p in payments
    ]


def _serving(session, station_id: int | None) -> dict | None:
    """The customer at this counter now (an open counter visit), if any."""
    visit = queue.current_visit(session, station_id)
    if visit is None:
        return None
    ticket = session.get(QueueTicket, visit.ticket_id) if visit.ticket_id else None
    return {
        "number": ticket.number if ticket else "Walk-in",
        "service": ticket.service.replace("_", " ").capitalize() if ticket else "No ticket",
        "language": LANGUAGES.get(visit.language, visit.language),
        "since": visit.started_at.astimezone(OFFICE_TZ).strftime("%-I:%M %p"),
    }


@bp.route("/")
@access("cashier", "supervisor")
def index():
    session = db.session()
    principal = current_principal()
    office_id = _office_id(session)
    station = session.get(Station, principal.station_id) if principal.station_id else None
    drawer = drawers.open_drawer_at(session, station.id if station else None)
    waiting = queue.waiting_list(session, office_id) if office_id else []
    return render_template(
        "counter/index.html",
        problems=receipting.print_problems(session, office_id) if office_id else [],
        station=station,
        drawer=drawer,
        drawer_is_mine=drawer is not None and drawer.cashier_id == principal.user_id,
        drawer_since=drawer.opened_at.astimezone(OFFICE_TZ).strftime("%-I:%M %p")
        if drawer
        else None,
        drawer_float=format_amount(drawer.float_cents) if drawer else None,
        waiting=len(waiting),
        oldest_wait=max((t.minutes_waited for t in waiting), default=None),
        serving=_serving(session, station.id if station else None),
        recent=_recent_receipts(session, station.id if station else None),
        links=_links(),
        key=uuid.uuid4().hex,  # "Call next" sent twice calls one ticket
        today=business_date(),
    )


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
