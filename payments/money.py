"""The one place where amounts are parsed and formatted. Money is an ``int`` of cents.

``parse_amount`` is for what people type ("12.5", "$1,234.56"); ``parse_cents`` is for
machine fields that already carry cents (JSON ``amount_cents``). Both refuse floats: a float
has already lost the exact value before it reaches us.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from babel.numbers import format_currency

CURRENCY = "USD"
SUPPORTED_LOCALES = ("en", "es", "vi")
# Dollars are written the US way in every language of the office ("$1,234.56"), as US
# agencies' Vietnamese pages write them: Vietnam's "1.234,56 US$" beside a keypad whose "."
# types cents invites "2.000" typed back for two thousand and read as two dollars.
_BABEL_LOCALE = {"en": "en_US", "es": "es_US", "vi": "en_US"}

# Optional sign, optional $, digits with optional well-placed thousands commas, optional
# one or two decimals ("12." is read as 12.00). ASCII digits only: int() would also accept
# Arabic-Indic or full-width digits, which no keypad of ours produces.
_AMOUNT = re.compile(
    r"""^\s*
    (?P<sign>[-+]?)\s*
    \$?\s*
    (?P<int>\d{1,3}(?:,\d{3})+|\d+)?
    (?:\.(?P<frac>\d{0,2}))?
    \s*$""",
    re.VERBOSE | re.ASCII,
)
MAX_TEXT_LENGTH = 32  # longer input is refused before it reaches int()


class AmountError(ValueError):
    """An amount that cannot be read. ``code`` is stable and maps to a translated message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AmountLimits:
    """Inclusive bounds for an amount entered on a channel, in cents."""

    minimum: int = 1
    maximum: int | None = None

    def check(self, cents: int) -> int:
        if cents < self.minimum:
            if cents <= 0:
                raise AmountError("not_positive", "The amount must be more than zero.")
            raise AmountError(
                "below_minimum", f"The amount must be at least {format_amount(self.minimum)}."
            )
        if self.maximum is not None and cents > self.maximum:
            raise AmountError(
                "above_maximum", f"The amount cannot be more than {format_amount(self.maximum)}."
            )
        return cents


def parse_amount(text: str, *, allow_negative: bool = False) -> int:
    """Parse a typed amount into cents.

    >>> parse_amount("12.5"), parse_amount("$1,234.56"), parse_amount("-3", allow_negative=True)
    (1250, 123456, -300)

    Raises ``AmountError`` for floats, empty input, letters, three decimals, misplaced commas
    and (unless ``allow_negative``) negative amounts.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise AmountError("not_text", "An amount must be given as text, for example 12.50.")
    if len(text) > MAX_TEXT_LENGTH:
        raise AmountError("invalid", "Enter an amount in dollars and cents, for example 12.50.")
    match = _AMOUNT.match(text)
    if not match or (match.group("int") is None and not match.group("frac")):
        raise AmountError("invalid", "Enter an amount in dollars and cents, for example 12.50.")
    whole = int((match.group("int") or "0").replace(",", ""))
    frac = (match.group("frac") or "0").ljust(2, "0")
    cents = whole * 100 + int(frac)
    if match.group("sign") == "-" and cents:
        if not allow_negative:
            raise AmountError("negative", "The amount cannot be negative.")
        cents = -cents
    return cents


def parse_cents(value: object) -> int:
    """Accept an integer number of cents from a machine field (JSON, form)."""
    if isinstance(value, bool):
        raise AmountError("not_integer", "Cents must be a whole number.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,15}", value.strip()):
        return int(value.strip())
    raise AmountError("not_integer", "Cents must be a whole number, for example 1250 for $12.50.")


def format_amount(cents: int, locale: str = "en") -> str:
    """Format cents as currency for a language: 123456 -> "$1,234.56" (en, es and vi)."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError("format_amount takes an int of cents")
    from decimal import Decimal

    value = Decimal(cents).scaleb(-2)
    return format_currency(value, CURRENCY, locale=_BABEL_LOCALE.get(locale, locale))


def format_plain(cents: int) -> str:
    """Cents as a machine-readable decimal string: 123456 -> "1234.56", -5 -> "-0.05"."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError("format_plain takes an int of cents")
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
