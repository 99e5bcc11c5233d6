"""Counter void and refund screens: the payment, a reason, the amount (refunds: full or part,
cash from the drawer or back to the card) and a supervisor's typed approval
(templates/counter/_override.html). Both names go into the audit log."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import db, override
from kiosk.access import access
from kiosk.api.common import caller_office_id
from kiosk.api.payments import card_gateway
from kiosk.counter_desk import STATUS_LABELS, TENDER_LABELS
from kiosk.security import client_address, current_principal
from payments import service
from payments.models import Payment, TenderKind
from payments.money import AmountError, format_amount, parse_amount
from payments.states import PaymentError

bp = Blueprint("counter_override", __name__)
MAX_REASON = 500


def tender_label(payment: Payment, kind: str) -> str:
    """A tender as the cashier says it: "Cash", "Money order", "Card Visa ...4242"."""
    label = TENDER_LABELS.get(kind, kind.replace("_", " ").capitalize())
    if kind == TenderKind.CARD.value and payment.card_last4:
        brand = (payment.card_brand or "").replace("_", " ").title()
        label = " ".join(p for p in (label, brand, f"...{payment.card_last4}") if p)
    return label


@bp.context_processor
def _helpers():
    return {
        "usd": format_amount,
        "status_label": lambda status: STATUS_LABELS.get(status, status.replace("_", " ")),
        "tender_label": tender_label,
    }


def form_supervisor(
    session, *, action: str, entity: str, entity_id: object, cashier_id: int | None = None
) -> int:
    """The supervisor approving this form (``supervisor_username`` / ``supervisor_password``
    from templates/counter/_override.html). A signed-in supervisor who leaves both blank
    approves as themselves. Raises ``override.OverrideError``; commits a refusal so the
    failure count and its audit entry stay."""
    principal = current_principal()
    cashier_id = principal.user_id if cashier_id is None else cashier_id
    username = request.form.get("supervisor_username", "")
    password = request.form.get("supervisor_password", "")
    if not username.strip() and not password and "supervisor" in principal.roles:
        if principal.user_id != cashier_id:
            return principal.user_id
        if action in ("void", "refund"):
            return principal.user_id
    try:
        return override.verify_supervisor(
            session,
            username,
            password,
            cashier_id=cashier_id,
            action=action,
            policy=override.policy_from(current_app.config),
            source=client_address(),
            entity=entity,
            entity_id=entity_id,
        ).id
    except override.OverrideError:
        session.commit()
        raise


def _payment(session, payment_id: str) -> Payment | None:
    if len(payment_id) > 32:
        return None
    try:
        payment = service.get_payment(session, payment_id)
    except PaymentError:
        return None
    office_id = caller_office_id()
    return payment if office_id is None or payment.office_id == office_id else None


def _reason() -> str:
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        raise override.OverrideError("reason_required", "Give a reason.", 400)
    if len(reason) > MAX_REASON:
        raise override.OverrideError(
            "reason_too_long", f"The reason can be at most {MAX_REASON} characters.", 400
        )
    return reason


def _render(
    template: str,
    payment: Payment,
    error: str | None,
    status: int,
    *,
    code: str | None = None,
    **extra,
):
    return render_template(
        template,
        payment=payment,
        error=error,
        form=request.form,
        is_supervisor="supervisor" in current_principal().roles,
        supervisor_error=code in override.SUPERVISOR_CODES,
        **extra,
    ), status


def _not_found(payment_id: str):
    flash(f"No payment {payment_id[:32]} was found in this office.")
    return redirect(url_for("counter.index")), 303


@bp.route("/<payment_id>/void", methods=["GET", "POST"])
@access("cashier", "supervisor")
def void(payment_id: str):
    session = db.session()
    payment = _payment(session, payment_id)
    if payment is None:
        return _not_found(payment_id)
    if request.method == "GET":
        return _render("counter/void.html", payment, None, 200)
    if payment.status == "voided":
        # A resent form: the void stands; nothing is checked or written again.
        return redirect(url_for("counter_override.void", payment_id=payment.id)), 303
    try:
        reason = _reason()
        approver = form_supervisor(session, action="void", entity="payment", entity_id=payment.id)
        session.expire(payment)  # read it again under the row lock
        payment = service.get_payment(session, payment.id, lock=True)
        service.void_payment(
            session,
            payment,
            supervisor_id=approver,
            actor=current_user.username,
            reason=reason,
            gateway=card_gateway(session) if service.card_tender(payment) else None,
        )
        session.commit()
    except override.OverrideError as exc:
        return _render("counter/void.html", payment, exc.message, exc.status, code=exc.code)
    except PaymentError as exc:
        session.rollback()
        return _render("counter/void.html", payment, exc.message, exc.status)
    flash(f"Payment {payment.receipt_number or payment.id} is void. It keeps its receipt number.")
    return redirect(url_for("counter_override.void", payment_id=payment.id)), 303


def _refund_kinds(payment: Payment) -> list[tuple[str, str]]:
    kinds = [(TenderKind.CASH.value, "Cash out of the drawer")]
    if service.card_tender(payment) is not None:
        kinds.insert(0, (TenderKind.CARD.value, "Back to the card"))
    return kinds


@bp.route("/<payment_id>/refund", methods=["GET", "POST"])
@access("cashier", "supervisor")
def refund(payment_id: str):
    session = db.session()
    payment = _payment(session, payment_id)
    if payment is None:
        return _not_found(payment_id)
    refundable = payment.amount_cents - payment.refunded_cents
    kinds = _refund_kinds(payment)
    extra = {"refundable": refundable, "kinds": kinds, "refund_key": uuid.uuid4().hex}
    if request.method == "GET":
        return _render("counter/refund.html", payment, None, 200, **extra)
    extra["refund_key"] = (request.form.get("refund_key") or "")[:64] or extra["refund_key"]
    refund_key = f"counter-refund-{extra['refund_key']}"  # the form's key, kept apart from API keys
    earlier = service.refund_for_key(session, refund_key)
    if earlier is not None:
        # A resent form (same key): that refund stands; the supervisor is not asked again
        # and nothing new is written.
        if earlier.payment_id != payment.id:
            return _render(
                "counter/refund.html",
                payment,
                "This form was already used for another payment's refund. Start again.",
                409,
                **{**extra, "refund_key": uuid.uuid4().hex},
            )
        flash(
            f"Refund of {format_amount(earlier.amount_cents)} on payment "
            f"{payment.receipt_number or payment.id} was recorded already. Nothing new was done."
        )
        return redirect(url_for("counter_override.refund", payment_id=payment.id)), 303
    try:
        kind = request.form.get("kind")
        if kind not in {k for k, _ in kinds}:
            raise override.OverrideError(
                "bad_kind", "Choose how the money goes back: to the card or in cash.", 400
            )
        if request.form.get("amount_choice") == "full":
            amount = refundable
        else:
            try:
                amount = parse_amount((request.form.get("amount") or "").strip())
            except AmountError as exc:
                raise override.OverrideError("bad_amount", exc.message, 400) from exc
            if amount <= 0:
                raise override.OverrideError("bad_amount", "The refund must be above $0.00.", 400)
        reason = _reason()
        approver = form_supervisor(session, action="refund", entity="payment", entity_id=payment.id)
        session.expire(payment)  # read it again under the row lock
        payment = service.get_payment(session, payment.id, lock=True)
        service.refund_payment(
            session,
            payment,
            amount_cents=amount,
            supervisor_id=approver,
            refund_key=refund_key,
            actor=current_user.username,
            kind=kind,
            reason=reason,
            gateway=card_gateway(session) if service.card_tender(payment) else None,
            station_id=current_principal().station_id,
        )
        session.commit()
    except override.OverrideError as exc:
        return _render(
            "counter/refund.html", payment, exc.message, exc.status, code=exc.code, **extra
        )
    except PaymentError as exc:
        session.rollback()
        return _render("counter/refund.html", payment, exc.message, exc.status, **extra)
    flash(f"Refunded {format_amount(amount)} on payment {payment.receipt_number or payment.id}.")
    return redirect(url_for("counter_override.refund", payment_id=payment.id)), 303
