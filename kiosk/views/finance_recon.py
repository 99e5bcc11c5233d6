"""Finance: card reconciliation with Stripe. Run it for a business day, see the matched
charges, the payouts that carry the day and the exceptions; resolve an exception with a note.
Finance role only; runs and resolutions are audited by payments.reconciliation."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import card_recon, db
from kiosk.access import access
from kiosk.security import current_principal
from kiosk.views.finance_common import finance_office, page_day
from payments import reconciliation
from payments.db import business_date
from payments.money import format_amount
from payments.states import PaymentError

bp = Blueprint("finance_recon", __name__)


def _actor() -> str:
    return getattr(current_user, "username", None) or f"staff:{current_principal().user_id}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _money(cents: int | None) -> str:
    return "" if cents is None else format_amount(cents)


@bp.route("/", methods=["GET"])
@access("finance")
def page():
    session = db.session()
    try:
        office = finance_office()
        day = page_day(request.args.get("date"))
    except PaymentError as exc:
        return render_template(
            "finance/reconciliation.html", error=exc.message, today=business_date(), day=None
        ), exc.status
    exceptions = reconciliation.exceptions_for_day(session, office.id, day)
    earlier = [
        e for e in reconciliation.open_exceptions(session, office.id) if e.business_date != day
    ]
    return render_template(
        "finance/reconciliation.html",
        error=None,
        office=office,
        day=day,
        today=business_date(),
        card=reconciliation.card_section(session, office.id, day),
        settlements=reconciliation.settlements_for_day(session, office.id, day),
        exceptions=exceptions,
        earlier=earlier,
        money=_money,
    )


@bp.route("/run", methods=["POST"])
@access("finance")
def run():
    session = db.session()
    raw = request.form.get("date")
    try:
        office = finance_office()
        day = page_day(raw)
        result = card_recon.run(session, office.id, day, actor=_actor())
        session.commit()
    except PaymentError as exc:
        session.rollback()
        flash(f"Not reconciled: {exc.message}")
        target = raw if isinstance(raw, str) and len(raw) == 10 else None
        return redirect(url_for(".page", date=target), code=303)
    flash(
        f"Reconciled {day.isoformat()}: {_count(result.matched_count, 'charge')} matched, "
        f"{_count(result.new_exceptions, 'new exception')}, {result.still_open} open, "
        f"{result.auto_resolved} resolved on their own."
    )
    return redirect(url_for(".page", date=day.isoformat()), code=303)


@bp.route("/exceptions/<int:exception_id>/resolve", methods=["POST"])
@access("finance")
def resolve(exception_id: int):
    session = db.session()
    back = request.form.get("date")
    back = back if isinstance(back, str) and len(back) == 10 else None
    try:
        office = finance_office()
        row = reconciliation.resolve_exception(
            session,
            exception_id,
            note=request.form.get("note", ""),
            actor=_actor(),
            resolved_by_id=current_principal().user_id,
            office_id=office.id,
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        flash(f"Not resolved: {exc.message}")
        return redirect(url_for(".page", date=back), code=303)
    flash(f"Exception {row.id} ({row.label}) resolved.")
    return redirect(url_for(".page", date=back or row.business_date.isoformat()), code=303)
