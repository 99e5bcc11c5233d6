"""What the CIS is told about money: payment, void and refund records, and their outbox topics.

The payments service enqueues these in the same transaction as the payment::

    outbox.enqueue(
        session, CIS_PAYMENT_TOPIC, payment.id, payment_record(payment, office_code),
        office_id=payment.office_id,
    )

Records are plain JSON-ready dicts (ints, strings, lists; amounts in integer cents; times UTC
ISO 8601 with a ``Z``; business dates ``YYYY-MM-DD``). The layout is documented in docs/cis.md.
Both CIS adapters (``kiosk.cis``) send them unchanged; the CIS de-duplicates by ``record_id``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from payments.db import Base
from payments.models import Payment, Refund

SCHEMA_VERSION = 1

CIS_PAYMENT_TOPIC = "cis.payment"
CIS_VOID_TOPIC = "cis.payment_void"
CIS_REFUND_TOPIC = "cis.refund"
CIS_VISIT_TOPIC = "cis.visit"
CIS_SERVICE_REQUEST_TOPIC = "cis.service_request"

# Every outbox topic the CIS adapters deliver, and the record type each one carries.
CIS_TOPICS: dict[str, str] = {
    CIS_PAYMENT_TOPIC: "payment",
    CIS_VOID_TOPIC: "payment_void",
    CIS_REFUND_TOPIC: "refund",
    CIS_VISIT_TOPIC: "visit",
    CIS_SERVICE_REQUEST_TOPIC: "service_request",
}


def iso_utc(value: dt.datetime | None) -> str | None:
    """A UTC timestamp as ``2026-11-23T18:04:05Z`` (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _bill_numbers(payment: Payment) -> dict[int, str]:
    """Bill numbers for the payment's allocations, read through the shared metadata (the
    ``bills`` table belongs to kiosk, which payments must not import)."""
    ids = {a.bill_id for a in payment.allocations if a.bill_id is not None}
    session = object_session(payment)
    if not ids or session is None:
        return {}
    bills = Base.metadata.tables["bills"]
    rows = session.execute(select(bills.c.id, bills.c.number).where(bills.c.id.in_(ids)))
    return {row.id: row.number for row in rows}


def _tender(line: Any, payment: Payment) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": line.kind, "amount_cents": line.amount_cents}
    if line.kind == "card":
        out.update(
            card_brand=payment.card_brand,
            card_last4=payment.card_last4,
            auth_code=payment.card_auth_code,
            processor_id=payment.processor_charge_id or payment.processor_intent_id,
        )
    else:
        out.update(reference=line.reference, bank=line.bank)
    return out


def payment_record(
    payment: Payment, office_code: str, *, bill_numbers: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """The CIS record of a completed payment. ``bill_numbers`` (bill id -> number) may be
    passed to avoid a query; otherwise they are looked up in the payment's session."""
    numbers = dict(bill_numbers) if bill_numbers is not None else _bill_numbers(payment)
    return {
        "record_type": "payment",
        "schema_version": SCHEMA_VERSION,
        "record_id": payment.id,
        "office_code": office_code,
        "account_number": payment.account_number,
        "amount_cents": payment.amount_cents,
        "fee_cents": payment.fee_cents or 0,
        "change_cents": payment.change_cents or 0,
        "channel": payment.channel,
        "status": payment.status,
        "receipt_number": payment.receipt_number,
        "business_date": iso_date(payment.business_date),
        "station_id": payment.station_id,
        "staff_user_id": payment.staff_user_id,
        "tenders": [_tender(t, payment) for t in payment.tenders],
        "allocations": [
            {"bill_number": numbers.get(a.bill_id), "amount_cents": a.amount_cents}
            for a in payment.allocations
        ],
        "created_at": iso_utc(payment.created_at),
        "completed_at": iso_utc(payment.completed_at),
    }


def void_record(payment: Payment, office_code: str, *, reason: str | None = None) -> dict:
    """The CIS record that reverses a payment voided on its own business day. Its
    ``record_id`` is the payment id: a payment is voided at most once."""
    return {
        "record_type": "payment_void",
        "schema_version": SCHEMA_VERSION,
        "record_id": payment.id,
        "payment_id": payment.id,
        "office_code": office_code,
        "account_number": payment.account_number,
        "amount_cents": payment.amount_cents,
        "receipt_number": payment.receipt_number,
        "business_date": iso_date(payment.business_date),
        "voided_by_staff_user_id": payment.voided_by_id,
        "reason": reason,
        "voided_at": iso_utc(payment.voided_at),
    }


def refund_record(refund: Refund, office_code: str) -> dict[str, Any]:
    """The CIS record of money given back after the payment's business day closed."""
    payment = refund.payment
    return {
        "record_type": "refund",
        "schema_version": SCHEMA_VERSION,
        "record_id": refund.id,
        "payment_id": refund.payment_id,
        "office_code": office_code,
        "account_number": payment.account_number if payment is not None else None,
        "receipt_number": payment.receipt_number if payment is not None else None,
        "amount_cents": refund.amount_cents,
        "kind": refund.kind,
        "status": refund.status,
        "reason": refund.reason,
        "business_date": iso_date(refund.business_date),
        "approved_by_staff_user_id": refund.approved_by_id,
        "created_at": iso_utc(refund.created_at),
    }
