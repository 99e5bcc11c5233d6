"""Payment rules from settings: per-channel limits, overpayment, partial payments, the
convenience fee and the duplicate window. Built once from the app's config by the kiosk layer
(``PaymentRules.from_settings(app.config)``); the domain never reads settings itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from payments.models import Channel
from payments.money import AmountLimits

DEFAULT_LIMITS = {
    Channel.KIOSK.value: AmountLimits(minimum=1, maximum=200_000),
    Channel.COUNTER.value: AmountLimits(minimum=1, maximum=1_000_000),
    Channel.API.value: AmountLimits(minimum=1, maximum=200_000),
}


@dataclass(frozen=True)
class PaymentRules:
    limits: Mapping[str, AmountLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    allow_overpayment: bool = True  # the excess becomes a credit on the account
    allow_partial: bool = True
    card_fee_cents: int = 0  # convenience fee added to payments with a card tender
    duplicate_window: dt.timedelta = dt.timedelta(minutes=10)

    def limits_for(self, channel: str) -> AmountLimits:
        return self.limits.get(channel) or AmountLimits(minimum=1)

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> PaymentRules:
        """Read the ``PAYMENT_*`` keys of a Flask config (or any mapping); missing keys keep
        their defaults."""
        limits = dict(DEFAULT_LIMITS)
        for channel in (Channel.KIOSK.value, Channel.COUNTER.value):
            prefix = f"PAYMENT_{channel.upper()}"
            default = DEFAULT_LIMITS[channel]
            limits[channel] = AmountLimits(
                minimum=int(config.get(f"{prefix}_MIN_CENTS") or default.minimum),
                maximum=int(config.get(f"{prefix}_MAX_CENTS") or default.maximum),
            )
        limits[Channel.API.value] = limits[Channel.KIOSK.value]
        minutes = config.get("PAYMENT_DUPLICATE_WINDOW_MINUTES")
        return cls(
            limits=limits,
            allow_overpayment=bool(config.get("PAYMENT_ALLOW_OVERPAYMENT", True)),
            allow_partial=bool(config.get("PAYMENT_ALLOW_PARTIAL", True)),
            card_fee_cents=int(config.get("PAYMENT_CARD_FEE_CENTS") or 0),
            duplicate_window=dt.timedelta(minutes=10 if minutes is None else int(minutes)),
        )
