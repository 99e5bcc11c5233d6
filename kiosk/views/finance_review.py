"""Finance and supervisors: card payments flagged for review (``Payment.needs_review``) and
the three ways to settle one (complete with a charge, refund a stray charge, close with a
note). The rules and the audit trail are in payments.review; these views only parse the form,
call it and commit."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import db
from kiosk.access import access
from kiosk.api.payments import card_gateway
from kiosk.security import current_principal
from kiosk.views.finance_common import finance_office
from payments import review
from payments.db import DATE_AND_CLOCK, office_time
from payments.money import format_amount
from payments.states import PaymentError

bp = Blueprint("finance_review", __name__)

CONFIRM = "yes"  # value of the "I checked ..." box on the forms that move money
PAYMENT_STATUS = {
    "created": "not started",
    "awaiting_card": "waiting for the card",
    "processing": "card in progress",
    "succeeded": "complete",
    "failed": "failed",
    "canceled": "canceled",
    "voided": "voided",
    "partially_refunded": "partly refunded",
    "refunded": "refunded",
}
CHARGE_STATUS = {
    "succeeded": "charged",
    "pending": "waiting at the reader",
    "failed": "declined or failed",
    "canceled": "canceled",
}


def _actor() -> str:
    return getattr(current_user, "username", None) or f"staff:{current_principal().user_id}"


def _money(cents: int | None) -> str:
    return "—" if cents is None else format_amount(cents)


def _local(at) -> str:
    return office_time(at, DATE_AND_CLOCK)


@bp.app_template_global("payments_to_review")
def payments_to_review() -> int:
    """How many of the office's payments wait for review (for the navigation links)."""
    try:
        return review.count_flagged(db.session(), finance_office().id)
    except PaymentError:
        return 0


def _words() -> dict:
    return {
        "money": _money,
        "local": _local,
        "payment_status": lambda s: PAYMENT_STATUS.get(s, s),
        "charge_status": lambda s: CHARGE_STATUS.get(s, s),
    }


@bp.route("/", methods=["GET"])
@access("finance", "supervisor")
def index():
    session = db.session()
    try:
        office = finance_office()
    except PaymentError as exc:
        return render_template("base/error.html", status=exc.status, message=exc.message), 400
    return render_template(
        "finance/review_list.html",
        office=office,
        flagged=review.flagged(session, office.id),
        **_words(),
    )


def _not_flagged(exc: review.NotFlagged):
    """A payment that does not exist here is a 404; one already settled goes back to the list."""
    if exc.code == "payment_not_found":
        abort(404)
    flash(exc.message)
    return redirect(url_for(".index"), code=303)


@bp.route("/<payment_id>", methods=["GET"])
@access("finance", "supervisor")
def detail(payment_id: str):
    session = db.session()
    try:
        office = finance_office()
        seen = review.load(session, payment_id, card_gateway(session), office_id=office.id)
    except review.NotFlagged as exc:
        return _not_flagged(exc)
    except PaymentError as exc:
        return render_template("base/error.html", status=exc.status, message=exc.message), 400
    return render_template(
        "finance/review_payment.html",
        office=office,
        review=seen,
        max_note=review.MAX_NOTE,
        **_words(),
    )


def _settle(payment_id: str, what: str, act):
    """Run one settling step: commit, or roll back and say why; back to the payment."""
    session = db.session()
    if what != "closed" and request.form.get("confirm") != CONFIRM:
        flash(f"Not {what}: tick the box to confirm you checked the charge first.")
        return redirect(url_for(".detail", payment_id=payment_id), code=303)
    try:
        office = finance_office()
        message = act(session, card_gateway(session), office.id)
        session.commit()
    except review.NotFlagged as exc:
        session.rollback()
        return _not_flagged(exc)
    except PaymentError as exc:
        session.rollback()
        flash(f"Not {what}: {exc.message}")
        return redirect(url_for(".detail", payment_id=payment_id), code=303)
    flash(message)
    if what == "closed":
        return redirect(url_for(".index"), code=303)
    return redirect(url_for(".detail", payment_id=payment_id), code=303)


def _on_the_charge(step, session, payment_id: str, gateway, office_id: int):
    """Run a review step on the charge the form names (it needs the card processor)."""
    if gateway is None:
        raise review.ReviewError("no_gateway", "No card processor is configured.")
    intent_id = request.form.get("intent_id", "")
    return step(session, payment_id, intent_id, gateway, actor=_actor(), office_id=office_id)


@bp.route("/<payment_id>/complete", methods=["POST"])
@access("finance", "supervisor")
def complete(payment_id: str):
    def act(session, gateway, office_id):
        payment = _on_the_charge(review.complete_with, session, payment_id, gateway, office_id)
        return f"Payment completed with that charge: receipt {payment.receipt_number}."

    return _settle(payment_id, "completed", act)


@bp.route("/<payment_id>/refund", methods=["POST"])
@access("finance", "supervisor")
def refund(payment_id: str):
    def act(session, gateway, office_id):
        charge = _on_the_charge(review.refund_charge, session, payment_id, gateway, office_id)
        card = (
            f" to {(charge.brand or 'the card').title()} ending {charge.last4}"
            if charge.last4
            else ""
        )
        return f"Refunded {_money(charge.amount_cents)}{card} (refund {charge.refund_id})."

    return _settle(payment_id, "refunded", act)


@bp.route("/<payment_id>/close", methods=["POST"])
@access("finance", "supervisor")
def close(payment_id: str):
    def act(session, gateway, office_id):
        payment = review.close(
            session,
            payment_id,
            gateway,
            note=request.form.get("note", ""),
            actor=_actor(),
            office_id=office_id,
        )
        status = PAYMENT_STATUS.get(payment.status, payment.status)
        return f"Review of the payment for account {payment.account_number} closed ({status})."

    return _settle(payment_id, "closed", act)
