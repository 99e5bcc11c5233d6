"""The receipt and the queue ticket as documents: plain data, amounts in cents, times in UTC.

Documents travel through the outbox as JSON (``to_dict`` / ``from_dict``) so a print or email
job can be rendered again at delivery time without the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from typing import Any


def nfc(text: str | None) -> str:
    return unicodedata.normalize("NFC", text or "")


def mask_name(name: str) -> str:
    """Show the first letter of each word only: "MARIA GONZALEZ" -> "M**** G*******"."""
    words = nfc(name).split()
    return " ".join(w[0] + "*" * (len(w) - 1) for w in words)


@dataclass(frozen=True)
class BillLine:
    number: str
    amount_cents: int


@dataclass(frozen=True)
class TenderEntry:
    kind: str  # card, cash, check, money_order
    amount_cents: int
    reference: str | None = None  # check or money-order number


@dataclass(frozen=True)
class ReceiptDocument:
    office_name: str
    office_address: tuple[str, ...]
    receipt_number: str
    business_date: dt.date
    issued_at: dt.datetime  # UTC, timezone-aware
    account_number: str
    account_name_masked: str
    service_address: str
    amount_cents: int
    office_phone: str | None = None
    timezone: str = "America/Los_Angeles"
    station_name: str | None = None
    cashier: str | None = None  # None: paid at a kiosk
    bills: tuple[BillLine, ...] = ()
    tenders: tuple[TenderEntry, ...] = ()
    change_cents: int = 0
    card_brand: str | None = None
    card_last4: str | None = None
    card_auth_code: str | None = None
    balance_after_cents: int | None = None
    service_request_ref: str | None = None
    voided: bool = False
    refunded_cents: int = 0
    reprint: bool = False
    language: str = "en"
    kind: str = field(default="receipt", init=False)

    def __post_init__(self):
        for name in ("amount_cents", "change_cents", "refunded_cents"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int of cents")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")

    @property
    def tendered_cents(self) -> int:
        return sum(t.amount_cents for t in self.tenders)

    def with_reprint(self) -> ReceiptDocument:
        return dataclasses.replace(self, reprint=True)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["business_date"] = self.business_date.isoformat()
        data["issued_at"] = self.issued_at.isoformat()
        data["office_address"] = list(self.office_address)
        data["bills"] = [dataclasses.asdict(b) for b in self.bills]
        data["tenders"] = [dataclasses.asdict(t) for t in self.tenders]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReceiptDocument:
        data = dict(data)
        data.pop("kind", None)
        data["business_date"] = dt.date.fromisoformat(data["business_date"])
        data["issued_at"] = dt.datetime.fromisoformat(data["issued_at"])
        data["office_address"] = tuple(data.get("office_address") or ())
        data["bills"] = tuple(BillLine(**b) for b in data.get("bills") or ())
        data["tenders"] = tuple(TenderEntry(**t) for t in data.get("tenders") or ())
        return cls(**data)


@dataclass(frozen=True)
class QueueTicketDocument:
    office_name: str
    number: str  # e.g. "B012"
    service: str  # billing, start_stop, other (kiosk.queue.SERVICES) or free text
    issued_at: dt.datetime
    estimated_wait_minutes: int | None = None
    language: str = "en"
    timezone: str = "America/Los_Angeles"
    kind: str = field(default="ticket", init=False)

    @property
    def receipt_number(self) -> str:
        return self.number

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["issued_at"] = self.issued_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueTicketDocument:
        data = dict(data)
        data.pop("kind", None)
        data["issued_at"] = dt.datetime.fromisoformat(data["issued_at"])
        return cls(**data)


@dataclass(frozen=True)
class ServiceRequestDocument:
    """The slip a resident takes home after requesting a service: the reference to look it
    up by, what was asked for and what happens next."""

    office_name: str
    reference: str  # 8 digits
    service: str  # bulky_item, cart_exchange, missed_pickup (kiosk.service_requests.KINDS)
    issued_at: dt.datetime
    office_address: tuple[str, ...] = ()
    office_phone: str | None = None
    language: str = "en"
    timezone: str = "America/Los_Angeles"
    kind: str = field(default="service_request", init=False)

    def __post_init__(self):
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")

    @property
    def receipt_number(self) -> str:
        return self.reference

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["issued_at"] = self.issued_at.isoformat()
        data["office_address"] = list(self.office_address)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceRequestDocument:
        data = dict(data)
        data.pop("kind", None)
        data["issued_at"] = dt.datetime.fromisoformat(data["issued_at"])
        data["office_address"] = tuple(data.get("office_address") or ())
        return cls(**data)


Document = ReceiptDocument | QueueTicketDocument | ServiceRequestDocument


def document_from_dict(data: dict[str, Any]) -> Document:
    if data.get("kind") == "ticket":
        return QueueTicketDocument.from_dict(data)
    if data.get("kind") == "service_request":
        return ServiceRequestDocument.from_dict(data)
    return ReceiptDocument.from_dict(data)
