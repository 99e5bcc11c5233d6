"""Card payments flagged for staff (``Payment.needs_review``) and how staff settle them.

The recovery sweep and the card result never guess when the processor's books and ours
disagree: several charges for one payment, a charge of another amount than the card tender,
a card approved after the payment was failed or canceled here, a second charge for a payment
already complete. They flag the payment; the sweep leaves it alone from then on. A supervisor
or finance user settles it here, with the processor's attempts in view:

- **complete** a payment still in flight with one charge of exactly the card amount: it gets
  its receipt number, like a payment the reader approved;
- **refund** a charge nothing here accounts for (a stray or second charge) in full, back to
  the card;
- **close** the review with a note once every charge is accounted for (the payment's own
  charge, or refunded): attempts still pending are canceled at the processor, a payment still
  in flight is canceled here, and the flag is cleared.

A charge is accounted for when it is the completed payment's own charge or a review refunded
it. Every step is audited; the closing entry lists the charges the review accounted for, so
the sweep's charge check does not flag them again. Processor calls happen with no database
transaction open (as in ``payments.recovery``), except for a gateway kept in our own
database (the simulated reader).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments import audit, service, states
from payments.db import utcnow
from payments.gateway import CardGateway, CardResult, CardStatus, GatewayError
from payments.models import Payment
from payments.models import PaymentStatus as S
from payments.money import format_amount
from payments.states import IN_FLIGHT, PaymentError

FLAGGED = ("payment.needs_review", "payment.card_succeeded_after_close")
REFUNDED = "payment.review_refunded"
COMPLETED = "payment.review_completed"
CLOSED = "payment.review_closed"
MAX_NOTE = 500
PAID_HERE = (S.SUCCEEDED.value, S.PARTIALLY_REFUNDED.value, S.REFUNDED.value, S.VOIDED.value)


class ReviewError(PaymentError):
    status = 409


class NotFlagged(ReviewError):
    status = 404


@dataclass(frozen=True)
class Charge:
    """One attempt the processor holds for the payment, and what accounts for it here."""

    intent_id: str
    status: str  # CardStatus
    amount_cents: int | None
    brand: str | None
    last4: str | None
    accounted: str | None  # "payment" (its own charge), "refunded", or None (staff must act)
    refund_id: str | None = None
    charge_id: str | None = None  # what the flag's reason and Stripe's dashboard name

    @property
    def charged(self) -> bool:
        return self.status == CardStatus.SUCCEEDED

    @property
    def needs_action(self) -> bool:
        return self.charged and self.accounted is None


@dataclass(frozen=True)
class Review:
    """A flagged payment as staff see it: our record, why it was flagged, the processor's
    attempts (``processor_error`` when the processor could not be read)."""

    payment_id: str
    office_id: int
    account_number: str
    status: str
    amount_cents: int
    card_cents: int | None
    receipt_number: str | None
    created_at: dt.datetime
    reason: str
    flagged_at: dt.datetime | None
    flagged_by: str | None
    charges: tuple[Charge, ...]
    processor_error: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def unaccounted(self) -> list[Charge]:
        return [c for c in self.charges if c.needs_action]

    @property
    def pending(self) -> list[Charge]:
        return [c for c in self.charges if c.status == CardStatus.PENDING]

    def can_complete_with(self, charge: Charge) -> bool:
        return (
            self.in_flight
            and charge.needs_action
            and charge.amount_cents is not None
            and charge.amount_cents == self.card_cents
        )

    @property
    def can_close(self) -> bool:
        return self.processor_error is None and not self.unaccounted

    @property
    def blocker(self) -> str | None:
        """Why the review cannot be closed yet, in words for staff (None: it can)."""
        if self.processor_error is not None:
            return f"The card processor could not be read: {self.processor_error}"
        if self.unaccounted:
            count = len(self.unaccounted)
            total = format_amount(sum(c.amount_cents or 0 for c in self.unaccounted))
            what = f"{count} charges of {total} in all" if count > 1 else f"A charge of {total}"
            verb = "are" if count > 1 else "is"
            if any(self.can_complete_with(c) for c in self.unaccounted):
                todo = "complete the payment with the right one and refund any other"
            else:
                todo = "refund it" if count == 1 else "refund them"
            return f"{what} at the processor {verb} not accounted for here: {todo}."
        return None


@dataclass(frozen=True)
class Flagged:
    """A line of the list of payments waiting for review (no processor call)."""

    payment_id: str
    account_number: str
    status: str
    amount_cents: int
    created_at: dt.datetime
    reason: str
    flagged_at: dt.datetime | None


# -- reading ---------------------------------------------------------------------------------


def flagged(session: Session, office_id: int, *, limit: int = 200) -> list[Flagged]:
    """The office's payments waiting for review, oldest first."""
    payments = session.scalars(
        select(Payment)
        .where(Payment.office_id == office_id, Payment.needs_review.is_(True))
        .order_by(Payment.created_at, Payment.id)
        .limit(limit)
    ).all()
    reasons = _flag_entries(session, [p.id for p in payments])
    out = []
    for p in payments:
        reason, at, _ = reasons.get(p.id, ("flagged", None, None))
        out.append(
            Flagged(p.id, p.account_number, p.status, p.amount_cents, p.created_at, reason, at)
        )
    return out


def count_flagged(session: Session, office_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Payment)
        .where(Payment.office_id == office_id, Payment.needs_review.is_(True))
    )


def load(
    session: Session, payment_id: str, gateway: CardGateway | None, *, office_id: int | None = None
) -> Review:
    """The review of one flagged payment, with the processor's attempts. Ends the session's
    transaction before calling the processor (unless the gateway lives in this session)."""
    payment = _flagged_payment(session, payment_id, office_id)
    reason, at, by = _flag_entries(session, [payment.id]).get(payment.id, ("flagged", None, None))
    refunds = refunded_charges(session, payment.id)
    record = {
        "payment_id": payment.id,
        "office_id": payment.office_id,
        "account_number": payment.account_number,
        "status": payment.status,
        "amount_cents": payment.amount_cents,
        "card_cents": service.card_amount(payment),
        "receipt_number": payment.receipt_number,
        "created_at": payment.created_at,
        "reason": reason,
        "flagged_at": at,
        "flagged_by": by,
    }
    own = payment.processor_intent_id if payment.status in PAID_HERE else None
    if gateway is None:
        return Review(**record, charges=(), processor_error="no card processor is configured")
    _leave_transaction(session, gateway)
    try:
        attempts = _attempts(gateway, payment_id)
    except GatewayError as exc:
        return Review(**record, charges=(), processor_error=exc.message)
    charges = sorted(
        (_charge(a, own, refunds) for a in attempts),
        key=lambda c: (c.accounted != "payment", c.intent_id),  # the same order every time
    )
    return Review(**record, charges=tuple(charges))


# -- settling --------------------------------------------------------------------------------


def refund_charge(
    session: Session,
    payment_id: str,
    intent_id: str,
    gateway: CardGateway,
    *,
    actor: str,
    office_id: int | None = None,
) -> Charge:
    """Refund in full a charge nothing here accounts for; idempotent per charge."""
    review = load(session, payment_id, gateway, office_id=office_id)
    charge = _charge_of(review, intent_id)
    if charge.accounted == "refunded":
        return charge
    if not charge.needs_action:
        raise ReviewError(
            "not_refundable",
            "Only a charge that nothing here accounts for can be refunded from this page.",
        )
    try:
        result = gateway.refund(
            payment_id, f"review:{intent_id}", intent_id, charge.amount_cents or 0
        )
    except GatewayError as exc:
        raise service.GatewayFailure("gateway_unavailable", exc.message) from exc
    if result.status == "failed":
        raise service.GatewayFailure("refund_failed", "The card processor refused the refund.")
    _record(
        session,
        _flagged_payment(session, payment_id, office_id),
        REFUNDED,
        actor=actor,
        intent=intent_id,
        refund=result.refund_id,
        amount_cents=result.amount_cents,
        status=result.status,
    )
    session.flush()
    return replace(charge, accounted="refunded", refund_id=result.refund_id)


def complete_with(
    session: Session,
    payment_id: str,
    intent_id: str,
    gateway: CardGateway,
    *,
    actor: str,
    office_id: int | None = None,
    now: dt.datetime | None = None,
) -> Payment:
    """Complete a payment still in flight with one charge of exactly the card amount."""
    review = load(session, payment_id, gateway, office_id=office_id)
    charge = _charge_of(review, intent_id)
    if not review.can_complete_with(charge):
        raise ReviewError(
            "cannot_complete",
            "The payment can be completed only while in progress, with a charge of exactly "
            f"the card amount ({format_amount(review.card_cents or 0)}).",
        )
    result = _attempt_result(gateway, payment_id, intent_id)
    payment = service.get_payment(session, payment_id, lock=True)
    if payment.status not in IN_FLIGHT or not payment.needs_review:
        raise ReviewError("changed", "The payment changed meanwhile; look at it again.")
    service.replace_intent(session, payment, intent_id, actor=actor, review=True)
    if payment.status == S.CREATED:
        states.transition(session, payment, S.AWAITING_CARD, actor=actor, details={"review": True})
    service.apply_card_result(session, payment, result, actor=actor, now=now)
    _record(
        session, payment, COMPLETED, actor=actor, intent=intent_id, receipt=payment.receipt_number
    )
    session.flush()
    return payment


def close(
    session: Session,
    payment_id: str,
    gateway: CardGateway | None,
    *,
    note: str,
    actor: str,
    office_id: int | None = None,
    now: dt.datetime | None = None,
) -> Payment:
    """Close the review once every charge is accounted for: cancel attempts still pending at
    the processor, cancel the payment here if it is still in flight, clear the flag."""
    note = note.strip() if isinstance(note, str) else ""
    if not note:
        raise service.ValidationError("note_required", "Say what was checked or done.")
    if len(note) > MAX_NOTE:
        raise service.ValidationError(
            "note_too_long", f"Keep the note under {MAX_NOTE} characters."
        )
    review = load(session, payment_id, gateway, office_id=office_id)
    if not review.can_close:
        raise ReviewError("not_settled", review.blocker or "The review cannot be closed yet.")
    assert gateway is not None  # can_close needs the processor's attempts
    for attempt in review.pending:
        try:
            outcome = gateway.cancel(payment_id, attempt.intent_id, None)
        except GatewayError as exc:
            raise service.GatewayFailure("gateway_unavailable", exc.message) from exc
        if outcome.status == CardStatus.SUCCEEDED:
            raise ReviewError(
                "charged_meanwhile", "A card attempt was just approved; look at the payment again."
            )
    payment = service.get_payment(session, payment_id, lock=True)
    if not payment.needs_review or payment.status != review.status:
        raise ReviewError("changed", "The payment changed meanwhile; look at it again.")
    if payment.status in IN_FLIGHT:
        payment.failure_code = "review_closed"
        payment.failure_message = "Canceled by staff after review."
        states.transition(
            session, payment, S.CANCELED, actor=actor, details={"code": "review_closed"}
        )
    payment.needs_review = False
    payment.updated_at = now or utcnow()
    _record(
        session,
        payment,
        CLOSED,
        actor=actor,
        note=note,
        status=payment.status,
        intents=sorted(c.intent_id for c in review.charges if c.charged),
    )
    session.flush()
    return payment


def reviewed_intents(session: Session, payment_id: str) -> set[str]:
    """The charges a closed review of the payment accounted for (the sweep leaves them be)."""
    intents: set[str] = set()
    for details in _details(session, payment_id, (CLOSED,)):
        intents.update(details.get("intents") or ())
    return intents


# -- helpers ---------------------------------------------------------------------------------


def _record(session: Session, payment: Payment, action: str, *, actor: str, **details) -> None:
    audit.record(
        session,
        action,
        actor=actor,
        entity="payment",
        entity_id=payment.id,
        office_id=payment.office_id,
        details=details,
    )


def _flagged_payment(session: Session, payment_id: str, office_id: int | None) -> Payment:
    payment = session.get(Payment, payment_id) if isinstance(payment_id, str) else None
    if payment is None or (office_id is not None and payment.office_id != office_id):
        raise NotFlagged("payment_not_found", "No such payment.")
    if not payment.needs_review:
        raise NotFlagged("not_flagged", "This payment is not waiting for review.")
    return payment


def _details(session: Session, payment_id: str, actions: tuple[str, ...]) -> list[dict]:
    rows = session.scalars(
        select(audit.AuditEvent.details)
        .where(
            audit.AuditEvent.entity == "payment",
            audit.AuditEvent.entity_id == payment_id,
            audit.AuditEvent.action.in_(actions),
        )
        .order_by(audit.AuditEvent.seq)
    ).all()
    return [json.loads(d or "{}") for d in rows]


def _flag_entries(
    session: Session, payment_ids: list[str]
) -> dict[str, tuple[str, dt.datetime, str]]:
    """Payment id -> (reason, when, by whom) of the newest entry that flagged it."""
    if not payment_ids:
        return {}
    rows = session.execute(
        select(
            audit.AuditEvent.entity_id,
            audit.AuditEvent.action,
            audit.AuditEvent.details,
            audit.AuditEvent.at,
            audit.AuditEvent.actor,
        )
        .where(
            audit.AuditEvent.entity == "payment",
            audit.AuditEvent.entity_id.in_(payment_ids),
            audit.AuditEvent.action.in_(FLAGGED),
        )
        .order_by(audit.AuditEvent.seq)
    ).all()
    out = {}
    for payment_id, action, details, at, actor in rows:
        out[payment_id] = (_reason(action, json.loads(details or "{}")), at, actor)
    return out


def _reason(action: str, details: dict) -> str:
    if action == "payment.card_succeeded_after_close":
        return f"the card was charged after the payment was {details.get('status', 'closed')}"
    return str(details.get("reason") or "flagged by the recovery sweep")


def refunded_charges(session: Session, payment_id: str) -> dict[str, str]:
    """Intent id -> refund id, for the charges a review of the payment refunded (the card
    reconciliation explains their charge and refund with it)."""
    return {
        d["intent"]: d.get("refund") or ""
        for d in _details(session, payment_id, (REFUNDED,))
        if d.get("status") != "failed" and d.get("intent")
    }


def _leave_transaction(session: Session, gateway: CardGateway) -> None:
    """No database transaction (and no SQLite write lock) across a call to the processor.
    Each step is its own transaction: one called with the previous step's writes still
    pending would roll them back, so that is refused, loudly."""
    if getattr(gateway, "session", None) is session:
        return
    if session.new or session.dirty or session.deleted or audit.appended(session):
        raise RuntimeError(
            "payments.review: commit the previous step first (each step ends the transaction "
            "before it calls the card processor)"
        )
    session.rollback()


def _attempts(gateway: CardGateway, payment_id: str) -> list[CardResult]:
    find_all = getattr(gateway, "find_all", None)
    if find_all is not None:
        return [r for r in find_all(payment_id) if r.intent_id]
    found = gateway.find(payment_id)
    return [found] if found is not None and found.intent_id else []


def _attempt_result(gateway: CardGateway, payment_id: str, intent_id: str) -> CardResult:
    try:
        attempts = _attempts(gateway, payment_id)
    except GatewayError as exc:
        raise service.GatewayFailure("gateway_unavailable", exc.message) from exc
    for attempt in attempts:
        if attempt.intent_id == intent_id and attempt.status == CardStatus.SUCCEEDED:
            return attempt
    raise ReviewError("changed", "That charge is no longer there; look at the payment again.")


def _charge(attempt: CardResult, own: str | None, refunds: dict[str, str]) -> Charge:
    accounted = None
    if attempt.intent_id == own:
        accounted = "payment"
    elif attempt.intent_id in refunds:
        accounted = "refunded"
    return Charge(
        attempt.intent_id or "",
        str(attempt.status),
        attempt.amount_cents,
        attempt.brand,
        attempt.last4,
        accounted,
        refunds.get(attempt.intent_id or ""),
        attempt.charge_id,
    )


def _charge_of(review: Review, intent_id: str) -> Charge:
    if review.processor_error is not None:
        raise service.GatewayFailure("gateway_unavailable", review.processor_error)
    for charge in review.charges:
        if charge.intent_id == intent_id:
            return charge
    raise ReviewError("no_such_charge", "The processor has no such charge for this payment.")
