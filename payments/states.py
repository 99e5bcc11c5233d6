"""The payment state machine: the one place that decides which status may follow which.

    created -> awaiting_card -> processing -> succeeded -> voided | partially_refunded | refunded
    created | awaiting_card | processing -> failed | canceled
    created -> succeeded            (payments without a card tender, in one transaction)

Every transition is written to the audit log with its actor.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from payments import audit
from payments.models import Payment, TenderKind
from payments.models import PaymentStatus as S


class PaymentError(Exception):
    """A payment operation refused. ``code`` is stable (API error code); ``status`` is the
    HTTP status the API answers with."""

    status = 400

    def __init__(self, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class InvalidTransition(PaymentError):
    status = 409

    def __init__(self, current: str, target: str, reason: str | None = None):
        super().__init__(
            "invalid_state",
            reason or f"A payment that is {current} cannot become {target}.",
            current=current,
            target=target,
        )
        self.current = current
        self.target = target


IN_FLIGHT = frozenset({S.CREATED, S.AWAITING_CARD, S.PROCESSING})
COMPLETED = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED})  # money was taken
TERMINAL = frozenset({S.FAILED, S.CANCELED, S.VOIDED, S.REFUNDED})

TRANSITIONS: dict[S, frozenset[S]] = {
    S.CREATED: frozenset({S.AWAITING_CARD, S.SUCCEEDED, S.FAILED, S.CANCELED}),
    S.AWAITING_CARD: frozenset({S.PROCESSING, S.FAILED, S.CANCELED}),
    S.PROCESSING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED}),
    S.SUCCEEDED: frozenset({S.VOIDED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.VOIDED: frozenset(),
    S.REFUNDED: frozenset(),
}


def has_card(payment: Payment) -> bool:
    return any(t.kind == TenderKind.CARD for t in payment.tenders)


def check(payment: Payment, target: str) -> None:
    """Raise ``InvalidTransition`` unless ``payment`` may move to ``target`` now."""
    current, target = S(payment.status), S(target)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
    if current == S.CREATED and target == S.SUCCEEDED and has_card(payment):
        raise InvalidTransition(
            current, target, "A card payment succeeds only after the reader approves it."
        )
    if current == S.CREATED and target == S.AWAITING_CARD and not has_card(payment):
        raise InvalidTransition(current, target, "This payment has no card tender.")


def transition(
    session: Session,
    payment: Payment,
    target: str,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Move ``payment`` to ``target`` and audit it, in the caller's transaction."""
    check(payment, target)
    previous = payment.status
    payment.status = S(target).value
    audit.record(
        session,
        f"payment.{payment.status}",
        actor=actor,
        entity="payment",
        entity_id=payment.id,
        office_id=payment.office_id,
        details={"from": previous, "to": payment.status, **(details or {})},
    )
