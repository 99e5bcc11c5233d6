"""The scanline printed (as a Code 128 barcode and in digits) on the paper bill.

Layout, 30 digits::

    AAAAAAAAAA BBBBBBBBBB CCCCCCCCC D
    account    bill       amount    check digit (Luhn mod 10 over the 29 digits before it)
    (10, zero-padded)     (cents)

A barcode scanner types the digits followed by Enter; people may type it with spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LENGTH = 30
_NON_DIGITS = re.compile(r"[\s-]")


class ScanlineError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Scanline:
    account_number: str
    bill_number: str
    amount_cents: int

    @property
    def digits(self) -> str:
        return compose(self.account_number, self.bill_number, self.amount_cents)


def luhn_digit(digits: str) -> int:
    """The Luhn check digit that makes ``digits + d`` valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:  # doubled: these sit next to the (future) check digit
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return (10 - total % 10) % 10


def compose(account_number: str, bill_number: str, amount_cents: int) -> str:
    if not (account_number.isdigit() and len(account_number) <= 10):
        raise ScanlineError("bad_account", "account number must be up to 10 digits")
    if not (bill_number.isdigit() and len(bill_number) <= 10):
        raise ScanlineError("bad_bill", "bill number must be up to 10 digits")
    if not 0 <= amount_cents < 10**9:
        raise ScanlineError("bad_amount", "amount out of range")
    body = f"{int(account_number):010d}{int(bill_number):010d}{amount_cents:09d}"
    return body + str(luhn_digit(body))


def looks_like_scanline(text: str) -> bool:
    """True when the text has the shape of a scanline (so it is not an account number)."""
    cleaned = _NON_DIGITS.sub("", text or "")
    return cleaned.isdigit() and len(cleaned) == LENGTH


def parse(text: str) -> Scanline:
    """Parse and validate a scanline; raise ``ScanlineError`` with a stable code otherwise."""
    cleaned = _NON_DIGITS.sub("", text or "")
    if not cleaned.isdigit():
        raise ScanlineError("not_digits", "A bill barcode holds only digits.")
    if len(cleaned) != LENGTH:
        raise ScanlineError("bad_length", f"A bill barcode has {LENGTH} digits.")
    if luhn_digit(cleaned[:-1]) != int(cleaned[-1]):
        raise ScanlineError("bad_check_digit", "The bill barcode did not read correctly.")
    return Scanline(
        account_number=str(int(cleaned[:10])),
        bill_number=str(int(cleaned[10:20])),
        amount_cents=int(cleaned[20:29]),
    )
