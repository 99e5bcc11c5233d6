"""The card gateway interface. Two implementations: ``StripeTerminal`` (server-driven Stripe
Terminal readers) and ``SimulatedReader`` (the demo default, behaving like Stripe's simulated
readers). Card data never reaches this code: we only ever see brand, last four and the
processor's ids.

Every call that can create or move money carries an idempotency key derived from our payment
id and the step (``idempotency_key(payment_id, "create")``), so a retry after a crash can
never make a second charge.

Refinements (backwards-compatible): ``CardResult.amount_cents`` and ``CardResult.payment_id``
report what the processor holds, so the recovery sweep can spot an amount mismatch or an
intent belonging to another payment. A gateway may also offer ``find_all(payment_id)`` (every
attempt the processor knows for that payment), which the sweep uses to detect duplicates, and
``recent_attempts()`` (every recent attempt of ours), which it uses to match each charge to
exactly one payment (``payments.recovery.check_charges``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class CardStatus(enum.StrEnum):
    PENDING = "pending"  # the reader is waiting for the card or processing it
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined or reader error; a new attempt may be started
    CANCELED = "canceled"


@dataclass(frozen=True)
class CardRequest:
    payment_id: str
    amount_cents: int
    reader_id: str
    metadata: dict[str, str] = field(default_factory=dict)  # office, station, account


@dataclass(frozen=True)
class CardResult:
    status: CardStatus
    intent_id: str | None = None
    charge_id: str | None = None
    brand: str | None = None
    last4: str | None = None
    auth_code: str | None = None
    failure_code: str | None = None  # card_declined, insufficient_funds, expired_card, ...
    failure_message: str | None = None
    reader_status: str | None = None  # online / offline / busy, when known
    amount_cents: int | None = None  # what the processor will charge / charged, when known
    payment_id: str | None = None  # our payment id as the processor recorded it (metadata)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # succeeded / pending / failed
    amount_cents: int


class GatewayError(Exception):
    """The processor or reader could not be reached or refused the call.

    ``retryable`` tells whether the same call (with the same idempotency key) may be repeated.
    """

    def __init__(self, code: str, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


def idempotency_key(payment_id: str, step: str) -> str:
    """The processor idempotency key for one step of one payment."""
    return f"payoffice:{payment_id}:{step}"


class CardGateway(Protocol):
    def start(self, request: CardRequest) -> CardResult:
        """Create the card-present PaymentIntent and hand it to the reader."""

    def poll(self, payment_id: str, intent_id: str, reader_id: str | None) -> CardResult:
        """Current state of a started attempt (fallback when no webhook arrived)."""

    def cancel(self, payment_id: str, intent_id: str | None, reader_id: str | None) -> CardResult:
        """Abort the reader action and cancel the intent (if not yet succeeded)."""

    def find(self, payment_id: str) -> CardResult | None:
        """Look up the processor's state for our payment id (recovery after a crash)."""

    def refund(
        self, payment_id: str, refund_key: str, intent_id: str, amount_cents: int
    ) -> RefundResult:
        """Return money to the card (partial or full)."""
