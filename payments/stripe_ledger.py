"""``StripeApiLedger``: the processor's books read through the official stripe SDK, for the
card reconciliation (``payments.reconciliation``).

Lists are read with auto-pagination. Stripe returns them newest first, so where a server-side
``created`` filter is not available to every Stripe-compatible server (refunds, payouts) the
reading stops at the first object older than the range. Charges come with their balance
transaction and PaymentIntent expanded: the fee and net are the balance transaction's, our
payment id is the charge's metadata or else its intent's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import stripe

from payments.reconciliation import (
    LedgerBalance,
    LedgerCharge,
    LedgerPayout,
    LedgerRefund,
)
from payments.stripe_terminal import _get, _id


def _ts(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(int(value), dt.UTC)


def _day(value: Any) -> dt.date | None:
    at = _ts(value)
    return at.date() if at is not None else None


def _metadata(obj: Any, key: str) -> str | None:
    value = _get(_get(obj, "metadata"), key)
    return str(value) if value not in (None, "") else None


def _balance(bt: Any) -> LedgerBalance | None:
    if bt is None or isinstance(bt, str):
        return None
    return LedgerBalance(
        id=bt.id,
        type=_get(bt, "type") or "",
        source=_id(_get(bt, "source")),
        amount_cents=int(_get(bt, "amount") or 0),
        fee_cents=int(_get(bt, "fee") or 0),
        net_cents=int(_get(bt, "net") or 0),
        available_on=_day(_get(bt, "available_on")),
        created=_ts(_get(bt, "created")),
    )


class StripeApiLedger:
    """``StripeLedger`` on the Stripe API (or a Stripe-compatible test server)."""

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        max_network_retries: int = 2,
        max_objects: int = 50_000,
    ) -> None:
        if not secret_key:
            raise ValueError("a Stripe secret key is required")
        self.client = stripe.StripeClient(
            secret_key, base_addresses={"api": api_base}, max_network_retries=max_network_retries
        )
        self.max_objects = max_objects

    @classmethod
    def from_settings(cls, config: Any) -> StripeApiLedger:
        return cls(config["STRIPE_SECRET_KEY"], api_base=config["STRIPE_API_BASE"])

    def _each(self, page):
        for n, obj in enumerate(page.auto_paging_iter()):
            if n >= self.max_objects:
                raise RuntimeError(f"more than {self.max_objects} objects in one listing")
            yield obj

    def charges(self, since: dt.datetime, until: dt.datetime) -> list[LedgerCharge]:
        page = self.client.v1.charges.list(
            {
                "limit": 100,
                "created": {"gt": int(since.timestamp()) - 1},
                "expand": ["data.balance_transaction", "data.payment_intent"],
            }
        )
        found = []
        for ch in self._each(page):
            created = _ts(_get(ch, "created"))
            if created is None or not since <= created < until:
                continue
            intent = _get(ch, "payment_intent")
            found.append(
                LedgerCharge(
                    id=ch.id,
                    amount_cents=int(_get(ch, "amount") or 0),
                    status=_get(ch, "status") or "",
                    created=created,
                    payment_intent=_id(intent),
                    payment_id=_metadata(ch, "payment_id") or _metadata(intent, "payment_id"),
                    office_id=_metadata(ch, "office_id") or _metadata(intent, "office_id"),
                    amount_refunded_cents=int(_get(ch, "amount_refunded") or 0),
                    currency=_get(ch, "currency") or "usd",
                    balance=_balance(_get(ch, "balance_transaction")),
                )
            )
        return found

    def refunds(self, since: dt.datetime, until: dt.datetime) -> list[LedgerRefund]:
        found = []
        for r in self._each(self.client.v1.refunds.list({"limit": 100})):
            created = _ts(_get(r, "created"))
            if created is None:
                continue
            if created < since:
                break  # newest first: the rest are older
            if created >= until:
                continue
            found.append(
                LedgerRefund(
                    id=r.id,
                    charge_id=_id(_get(r, "charge")),
                    amount_cents=int(_get(r, "amount") or 0),
                    status=_get(r, "status") or "",
                    created=created,
                    payment_intent=_id(_get(r, "payment_intent")),
                    refund_key=_metadata(r, "refund_id"),
                    payment_id=_metadata(r, "payment_id"),
                )
            )
        return found

    def payouts(self, since: dt.datetime, until: dt.datetime) -> list[LedgerPayout]:
        found = []
        for p in self._each(self.client.v1.payouts.list({"limit": 100})):
            created = _ts(_get(p, "created"))
            if created is None:
                continue
            if created < since:
                break
            if created >= until:
                continue
            found.append(
                LedgerPayout(
                    id=p.id,
                    amount_cents=int(_get(p, "amount") or 0),
                    arrival_date=_day(_get(p, "arrival_date")) or created.date(),
                    status=_get(p, "status") or "",
                    created=created,
                    currency=_get(p, "currency") or "usd",
                )
            )
        return found

    def payout_transactions(self, payout_id: str) -> list[LedgerBalance]:
        page = self.client.v1.balance_transactions.list({"payout": payout_id, "limit": 100})
        return [b for b in (_balance(bt) for bt in self._each(page)) if b is not None]
