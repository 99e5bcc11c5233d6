"""``SimulatedReader``: a card gateway that behaves like Stripe's simulated readers, for the
demo and the tests. The test card for each reader (approve, a decline, a reader timeout, a
customer cancel, an offline reader) is chosen on the demo kiosk page and kept in the database,
so every gunicorn worker sees the same choice. Attempts live in the database too, in the
caller's transaction: the reader is bound to one SQLAlchemy session (``SimulatedReader(session)``).

Like a real reader, an attempt starts pending; its outcome is decided when it is first polled
(so a cancel before that wins). A timeout stays pending until ``timeout`` has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments.db import Base, UTCDateTime, utcnow
from payments.gateway import CardRequest, CardResult, CardStatus, GatewayError, RefundResult

APPROVE = "approve"
READER_OFFLINE = "reader_offline"
TEST_CARDS: dict[str, tuple[CardStatus, str | None, str | None]] = {
    APPROVE: (CardStatus.SUCCEEDED, None, None),
    "card_declined": (CardStatus.FAILED, "card_declined", "The card was declined."),
    "insufficient_funds": (
        CardStatus.FAILED,
        "insufficient_funds",
        "The card has insufficient funds.",
    ),
    "expired_card": (CardStatus.FAILED, "expired_card", "The card has expired."),
    "reader_timeout": (
        CardStatus.FAILED,
        "reader_timeout",
        "No card was presented in time.",
    ),
    "customer_cancel": (
        CardStatus.CANCELED,
        "customer_canceled",
        "The customer canceled on the reader.",
    ),
    # The reader cannot be reached: the start fails (retryable) and no attempt is made.
    READER_OFFLINE: (CardStatus.FAILED, READER_OFFLINE, "The card reader is offline."),
}


class SimulatedTestCard(Base):
    """The test card the next attempt on a simulated reader will use."""

    __tablename__ = "simulated_test_cards"

    reader_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    card: Mapped[str] = mapped_column(String(32), default=APPROVE)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimulatedAttempt(Base):
    """One simulated PaymentIntent on a simulated reader."""

    __tablename__ = "simulated_attempts"

    intent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(32), unique=True)
    reader_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    card: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=CardStatus.PENDING.value)
    refunds: Mapped[str] = mapped_column(Text, default="{}")  # refund key -> cents
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def set_test_card(session: Session, reader_id: str, card: str) -> None:
    if card not in TEST_CARDS:
        raise ValueError(f"unknown test card {card!r}; one of {', '.join(TEST_CARDS)}")
    row = session.get(SimulatedTestCard, reader_id)
    if row is None:
        session.add(SimulatedTestCard(reader_id=reader_id, card=card, updated_at=utcnow()))
    else:
        row.card, row.updated_at = card, utcnow()
    session.flush()


def get_test_card(session: Session, reader_id: str) -> str:
    row = session.get(SimulatedTestCard, reader_id)
    return row.card if row is not None else APPROVE


class SimulatedReader:
    """Implements ``payments.gateway.CardGateway`` in-process."""

    def __init__(
        self,
        session: Session,
        *,
        timeout: dt.timedelta = dt.timedelta(seconds=60),
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.session = session
        self.timeout = timeout
        self.clock = clock

    def _attempt(self, payment_id: str) -> SimulatedAttempt | None:
        return self.session.scalars(
            select(SimulatedAttempt).where(SimulatedAttempt.payment_id == payment_id)
        ).first()

    def _result(self, a: SimulatedAttempt) -> CardResult:
        status = CardStatus(a.status)
        known = {"amount_cents": a.amount_cents, "payment_id": a.payment_id}
        if status == CardStatus.SUCCEEDED:
            auth = hashlib.sha256(a.intent_id.encode()).hexdigest()[:6].upper()
            return CardResult(
                status,
                intent_id=a.intent_id,
                charge_id="sim_ch_" + a.payment_id,
                brand="visa",
                last4="4242",
                auth_code=auth,
                reader_status="online",
                **known,
            )
        if status == CardStatus.PENDING:
            return CardResult(status, intent_id=a.intent_id, reader_status="busy", **known)
        _, code, message = TEST_CARDS[a.card]
        if status == CardStatus.CANCELED and a.card != "customer_cancel":
            code, message = "canceled", "The payment was canceled."
        return CardResult(
            status,
            intent_id=a.intent_id,
            failure_code=code,
            failure_message=message,
            reader_status="online",
            **known,
        )

    def start(self, request: CardRequest) -> CardResult:
        attempt = self._attempt(request.payment_id)
        if attempt is None and get_test_card(self.session, request.reader_id) == READER_OFFLINE:
            raise GatewayError(READER_OFFLINE, TEST_CARDS[READER_OFFLINE][2], retryable=True)
        if attempt is None:  # a retry with the same payment id reuses the attempt
            attempt = SimulatedAttempt(
                intent_id="sim_pi_" + request.payment_id,
                payment_id=request.payment_id,
                reader_id=request.reader_id,
                amount_cents=request.amount_cents,
                card=get_test_card(self.session, request.reader_id),
                status=CardStatus.PENDING.value,
                refunds="{}",
                started_at=self.clock(),
            )
            self.session.add(attempt)
            self.session.flush()
        return self._result(attempt)

    def poll(self, payment_id: str, intent_id: str | None, reader_id: str | None) -> CardResult:
        attempt = self._attempt(payment_id)
        if attempt is None:
            raise GatewayError("no_such_intent", "Unknown payment intent.", retryable=False)
        if attempt.status == CardStatus.PENDING:
            outcome, _, _ = TEST_CARDS[attempt.card]
            timed_out = self.clock() - attempt.started_at >= self.timeout
            if attempt.card != "reader_timeout" or timed_out:
                attempt.status = outcome.value
                self.session.flush()
        return self._result(attempt)

    def cancel(self, payment_id: str, intent_id: str | None, reader_id: str | None) -> CardResult:
        attempt = self._attempt(payment_id)
        if attempt is None:
            return CardResult(CardStatus.CANCELED, intent_id=intent_id)
        if attempt.status == CardStatus.PENDING:
            attempt.status = CardStatus.CANCELED.value
            self.session.flush()
        return self._result(attempt)

    def find(self, payment_id: str) -> CardResult | None:
        attempt = self._attempt(payment_id)
        return None if attempt is None else self._result(attempt)

    def refund(
        self, payment_id: str, refund_key: str, intent_id: str, amount_cents: int
    ) -> RefundResult:
        attempt = self._attempt(payment_id)
        if attempt is None or attempt.status != CardStatus.SUCCEEDED:
            raise GatewayError("not_charged", "Nothing was charged to refund.", retryable=False)
        refunds = json.loads(attempt.refunds or "{}")
        refund_id = "sim_re_" + hashlib.sha256(refund_key.encode()).hexdigest()[:16]
        if refund_key in refunds:
            return RefundResult(refund_id, "succeeded", refunds[refund_key])
        if amount_cents > attempt.amount_cents - sum(refunds.values()):
            return RefundResult(refund_id, "failed", amount_cents)
        refunds[refund_key] = amount_cents
        attempt.refunds = json.dumps(refunds, sort_keys=True)
        self.session.flush()
        return RefundResult(refund_id, "succeeded", amount_cents)
