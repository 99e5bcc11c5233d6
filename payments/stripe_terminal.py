"""The Stripe Terminal card gateway (server-driven readers, official stripe SDK).

Flow: create a ``card_present`` PaymentIntent carrying our payment id in its metadata, hand it
to the station's reader with ``process_payment_intent``, learn the result from the webhook or
by polling. Capture is **automatic**: the reader's approval is the charge, so there is no
"authorized but never captured" state to recover and the intent's ``succeeded`` status is the
one fact the sweep needs. (An intent found in ``requires_capture``, e.g. created by another
tool with manual capture, is captured by ``poll`` with its own idempotency key.)

Never twice: every POST carries ``idempotency_key(payment_id, step)``. We do not rely on it
alone (keys expire after 24 hours, and test servers may ignore them): ``start`` first looks
for an intent already made for this payment (``find_all``) and reuses it, and ``refund`` looks
for a refund already made under our refund key. Card numbers never pass through here; we
read brand, last four and the authorization code from the charge.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import stripe

from payments import crashpoints
from payments.gateway import (
    CardRequest,
    CardResult,
    CardStatus,
    GatewayError,
    RefundResult,
    idempotency_key,
)

log = logging.getLogger(__name__)

PENDING_INTENT = frozenset({"requires_payment_method", "requires_confirmation", "processing"})
RETRYABLE_CODES = frozenset(
    {"terminal_reader_busy", "terminal_reader_offline", "terminal_reader_timeout", "lock_timeout"}
)
# Customer-facing wording for the declines a reader reports most; others keep Stripe's text.
DECLINE_MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card was declined for insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_pin": "The PIN was incorrect.",
    "processing_error": "The card could not be processed. Please try again.",
    "canceled": "The payment was canceled on the reader.",
}


def _get(obj: Any, key: str) -> Any:
    """A field of a Stripe object or dict, or None (Stripe objects are not dicts since v15)."""
    if obj is None or isinstance(obj, str):
        return None
    try:
        return obj[key] if key in obj else None  # noqa: SIM401 - Stripe objects lack .get
    except (KeyError, TypeError):
        return None


def _id(obj: Any) -> str | None:
    """An object's id whether the field came back as an id or expanded."""
    if obj is None or isinstance(obj, str):
        return obj
    return _get(obj, "id")


def _failure(code: str | None, decline_code: str | None, message: str | None):
    """Our failure code and message: a specific decline reason wins over 'card_declined'."""
    chosen = decline_code if code == "card_declined" and decline_code else code
    chosen = chosen or "card_declined"
    return chosen, DECLINE_MESSAGES.get(chosen) or message or DECLINE_MESSAGES["card_declined"]


def gateway_error(exc: stripe.StripeError) -> GatewayError:
    """Translate an SDK error into ours; ``retryable`` says whether the same call may repeat."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "user_message", None) or str(exc) or "card processor error"
    if isinstance(exc, stripe.CardError):
        decline = getattr(exc, "decline_code", None) if hasattr(exc, "decline_code") else None
        fcode, fmsg = _failure(code, decline, message)
        return GatewayError(fcode, fmsg, retryable=False)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        return GatewayError("processor_unavailable", message, retryable=True)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayError(
            "processor_auth", "The card processor refused our credentials.", retryable=False
        )
    if isinstance(exc, stripe.IdempotencyError):
        return GatewayError("idempotency_conflict", message, retryable=False)
    if code in RETRYABLE_CODES:
        return GatewayError(code.removeprefix("terminal_"), message, retryable=True)
    return GatewayError(code or "processor_error", message, retryable=False)


class StripeTerminal:
    """``CardGateway`` on Stripe Terminal. ``api_base`` points at Stripe or a test server."""

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        currency: str = "usd",
        max_network_retries: int = 2,
        lookback: dt.timedelta = dt.timedelta(days=3),
        max_scan: int = 2000,
    ) -> None:
        if not secret_key:
            raise ValueError("a Stripe secret key is required")
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
        )
        self.currency = currency
        self.lookback = lookback
        self.max_scan = max_scan

    @classmethod
    def from_settings(cls, config: Any) -> StripeTerminal:
        return cls(config["STRIPE_SECRET_KEY"], api_base=config["STRIPE_API_BASE"])

    # -- the CardGateway interface ---------------------------------------------------------

    def start(self, request: CardRequest) -> CardResult:
        """Create (or reuse) the card-present PaymentIntent and hand it to the reader."""
        if request.amount_cents <= 0:
            raise GatewayError(
                "invalid_amount", "The card amount must be positive.", retryable=False
            )
        intent = self._reusable_intent(request)
        if intent is None:
            crashpoints.reach("card.before_create")
            metadata = {k: str(v) for k, v in request.metadata.items()}
            metadata["payment_id"] = request.payment_id
            intent = self._call(
                self.client.v1.payment_intents.create,
                {
                    "amount": request.amount_cents,
                    "currency": self.currency,
                    "payment_method_types": ["card_present"],
                    "capture_method": "automatic",
                    "metadata": metadata,
                },
                {"idempotency_key": idempotency_key(request.payment_id, "create")},
            )
            crashpoints.reach("card.after_create")
        if _get(intent, "status") not in PENDING_INTENT or _get(intent, "status") == "processing":
            # Already paid, canceled or being captured: nothing to hand to the reader.
            return self._result(intent, reader=None)
        try:
            reader = self._call(
                self.client.v1.terminal.readers.process_payment_intent,
                request.reader_id,
                {"payment_intent": intent.id},
                {"idempotency_key": idempotency_key(request.payment_id, "process")},
            )
        except GatewayError as exc:
            # A repeated hand-off finds the reader busy with this very intent: that is success.
            if exc.code != "reader_busy":
                raise
            reader = self._call(self.client.v1.terminal.readers.retrieve, request.reader_id)
            action = _get(reader, "action")
            on_reader = _id(_get(_get(action, "process_payment_intent"), "payment_intent"))
            if on_reader != intent.id or _get(action, "status") != "in_progress":
                raise
        crashpoints.reach("card.after_handoff")
        return self._result(intent, reader=reader, pending_on_reader=True)

    def poll(self, payment_id: str, intent_id: str, reader_id: str | None) -> CardResult:
        """The attempt's state from the intent (and the reader's action while it is open)."""
        intent = self._retrieve(intent_id)
        owner = _get(_get(intent, "metadata"), "payment_id")
        if payment_id and owner != payment_id:
            raise GatewayError(
                "intent_mismatch",
                f"PaymentIntent {intent_id} belongs to payment {owner!r}, not {payment_id!r}.",
                retryable=False,
            )
        if _get(intent, "status") == "requires_capture":
            intent = self._call(
                self.client.v1.payment_intents.capture,
                intent.id,
                {"expand": ["latest_charge"]},
                {"idempotency_key": idempotency_key(payment_id or owner, "capture")},
            )
        reader = None
        if reader_id and _get(intent, "status") in PENDING_INTENT:
            reader = self._call(self.client.v1.terminal.readers.retrieve, reader_id)
        return self._result(intent, reader=reader)

    def cancel(self, payment_id: str, intent_id: str | None, reader_id: str | None) -> CardResult:
        """Abort the reader action, then cancel the intent unless it already succeeded.

        Returns SUCCEEDED if the customer's card was approved in the meantime: the caller must
        then complete the payment instead of canceling it."""
        if intent_id is None:
            found = self.find(payment_id)
            if found is None:
                return CardResult(CardStatus.CANCELED, payment_id=payment_id)
            intent_id = found.intent_id
        if reader_id:
            self._cancel_reader_action(payment_id, intent_id, reader_id)
        intent = self._retrieve(intent_id)
        if _get(intent, "status") in PENDING_INTENT | {"requires_action", "requires_capture"}:
            try:
                intent = self.client.v1.payment_intents.cancel(
                    intent_id,
                    {"expand": ["latest_charge"]},
                    {"idempotency_key": idempotency_key(payment_id, "cancel")},
                )
            except stripe.InvalidRequestError:
                intent = self._retrieve(intent_id)  # it moved on (succeeded?) meanwhile
            except stripe.StripeError as exc:
                raise gateway_error(exc) from exc
        return self._result(intent, reader=None)

    def find(self, payment_id: str) -> CardResult | None:
        """The processor's state for our payment id, or None if it never reached Stripe.

        With several intents (a retried create that the processor did not deduplicate), the
        succeeded one wins, then one still pending, then the newest."""
        results = self.find_all(payment_id)
        if not results:
            return None
        rank = {CardStatus.SUCCEEDED: 0, CardStatus.PENDING: 1, CardStatus.FAILED: 2}
        return min(results, key=lambda r: rank.get(r.status, 3))

    def find_all(self, payment_id: str) -> list[CardResult]:
        """Every intent the processor holds for our payment id (newest first)."""
        return [self._result(i, reader=None) for i in self._intents_for(payment_id)]

    def recent_attempts(self) -> list[CardResult]:
        """Every card attempt of ours (an intent carrying a payment id) in the lookback
        window, for the sweep's check that each charge belongs to exactly one payment."""
        return [self._result(i, reader=None) for i in self._intents_for(None)]

    def refund(
        self, payment_id: str, refund_key: str, intent_id: str, amount_cents: int
    ) -> RefundResult:
        """Refund part or all of the charge; a repeat with the same ``refund_key`` returns the
        refund already made instead of making a second one."""
        if amount_cents <= 0:
            raise GatewayError("invalid_amount", "A refund must be positive.", retryable=False)
        existing = self._call(
            self.client.v1.refunds.list, {"payment_intent": intent_id, "limit": 100}
        )
        for refund in existing.auto_paging_iter():
            if _get(_get(refund, "metadata"), "refund_id") == refund_key:
                return RefundResult(refund.id, refund.status, refund.amount)
        refund = self._call(
            self.client.v1.refunds.create,
            {
                "payment_intent": intent_id,
                "amount": amount_cents,
                "metadata": {"payment_id": payment_id, "refund_id": refund_key},
            },
            {"idempotency_key": idempotency_key(payment_id, f"refund:{refund_key}")},
        )
        return RefundResult(refund.id, refund.status, refund.amount)

    # -- helpers ---------------------------------------------------------------------------

    def _call(self, method, *args):
        try:
            return method(*args)
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc

    def _retrieve(self, intent_id: str):
        return self._call(
            self.client.v1.payment_intents.retrieve, intent_id, {"expand": ["latest_charge"]}
        )

    def _intents_for(self, payment_id: str | None) -> list[Any]:
        """Intents for ``payment_id`` (or for any payment of ours when None), newest first."""
        since = int((dt.datetime.now(dt.UTC) - self.lookback).timestamp())
        page = self._call(
            self.client.v1.payment_intents.list,
            {"limit": 100, "created": {"gte": since}, "expand": ["data.latest_charge"]},
        )
        found = []
        try:
            for n, intent in enumerate(page.auto_paging_iter()):
                if n >= self.max_scan:
                    log.warning("stopped looking for payment %s after %d intents", payment_id, n)
                    break
                owner = _get(_get(intent, "metadata"), "payment_id")
                if owner and (payment_id is None or owner == payment_id):
                    found.append(intent)
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc
        found.sort(key=lambda i: _get(i, "created") or 0, reverse=True)
        return found

    def _reusable_intent(self, request: CardRequest):
        """An intent already made for this payment (a retried start), or None."""
        intents = self._intents_for(request.payment_id)
        live = [i for i in intents if _get(i, "status") != "canceled"]
        if not live:
            if intents:
                raise GatewayError(
                    "attempt_canceled",
                    "This card attempt was canceled; start a new payment.",
                    retryable=False,
                )
            return None
        paid = [i for i in live if _get(i, "status") == "succeeded"]
        intent = (paid or live)[0]
        if _get(intent, "amount") != request.amount_cents:
            raise GatewayError(
                "amount_mismatch",
                "A card attempt for this payment exists with a different amount.",
                retryable=False,
            )
        return intent

    def _cancel_reader_action(self, payment_id: str, intent_id: str, reader_id: str) -> None:
        try:
            reader = self.client.v1.terminal.readers.retrieve(reader_id)
            action = _get(reader, "action")
            on_reader = _get(_get(action, "process_payment_intent"), "payment_intent")
            if _get(action, "status") == "in_progress" and _id(on_reader) == intent_id:
                self.client.v1.terminal.readers.cancel_action(
                    reader_id, {}, {"idempotency_key": idempotency_key(payment_id, "cancel_action")}
                )
        except stripe.StripeError as exc:
            # The reader may be offline or already idle; canceling the intent still stops it.
            log.info("cancel_action on %s for %s: %s", reader_id, payment_id, exc)

    def _result(self, intent, *, reader, pending_on_reader: bool = False) -> CardResult:
        status = _get(intent, "status")
        common = {
            "intent_id": intent.id,
            "amount_cents": _get(intent, "amount"),
            "payment_id": _get(_get(intent, "metadata"), "payment_id"),
            "reader_status": _get(reader, "status"),
        }
        if status == "succeeded":
            charge = _get(intent, "latest_charge")
            if isinstance(charge, str):
                charge = self._call(self.client.v1.charges.retrieve, charge)
            return CardResult(
                CardStatus.SUCCEEDED, charge_id=_id(charge), **common, **_card(charge)
            )
        if status == "canceled":
            return CardResult(CardStatus.CANCELED, **common)
        if pending_on_reader or status not in PENDING_INTENT:
            return CardResult(CardStatus.PENDING, **common)
        action = _get(reader, "action")
        on_reader = _id(_get(_get(action, "process_payment_intent"), "payment_intent"))
        if action is not None and on_reader == intent.id:
            if _get(action, "status") == "failed":
                code, message = _failure(
                    _get(action, "failure_code"), None, _get(action, "failure_message")
                )
                return CardResult(
                    CardStatus.FAILED, failure_code=code, failure_message=message, **common
                )
            return CardResult(CardStatus.PENDING, **common)
        error = _get(intent, "last_payment_error")
        if error is not None:
            code, message = _failure(
                _get(error, "code"), _get(error, "decline_code"), _get(error, "message")
            )
            return CardResult(
                CardStatus.FAILED, failure_code=code, failure_message=message, **common
            )
        return CardResult(CardStatus.PENDING, **common)


def _card(charge: Any) -> dict[str, str | None]:
    """Brand, last four and authorization code as the charge reports them."""
    details = _get(charge, "payment_method_details")
    card = _get(details, "card_present") or _get(details, "card")
    auth = _get(charge, "authorization_code") or _get(_get(card, "receipt"), "authorization_code")
    return {"brand": _get(card, "brand"), "last4": _get(card, "last4"), "auth_code": auth}
