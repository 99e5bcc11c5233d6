"""A tiny in-process publish/subscribe for payment events.

``publish`` runs every handler synchronously inside the caller's transaction, so side
effects (account balances, bills, receipt printing) commit or roll back with the payment.
A handler that raises aborts the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from payments.models import Payment

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_VOIDED = "payment.voided"
PAYMENT_REFUNDED = "payment.refunded"  # handlers also receive refund=<Refund>

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = {}


def subscribe(name: str, handler: Handler) -> None:
    """Call ``handler(session, payment, **details)`` on ``name``; subscribing twice is a no-op."""
    handlers = _handlers.setdefault(name, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(name: str, handler: Handler) -> None:
    handlers = _handlers.get(name, [])
    if handler in handlers:
        handlers.remove(handler)


def publish(session: Session, name: str, payment: Payment, **details: Any) -> None:
    for handler in list(_handlers.get(name, ())):
        handler(session, payment, **details)
