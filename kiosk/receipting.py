"""Receipts for payments: the document built from the records, and the print and email jobs.

``register()`` subscribes to ``payment.succeeded`` (after ``kiosk.payment_hooks``, so the
balance printed is the balance after payment): the jobs are written to the outbox in the
payment's own transaction. Importing this module registers the outbox handlers for the
"print" and "email" topics with ``kiosk.worker``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hardware.devices import PrinterStatus, check_status
from kiosk.access import Principal
from kiosk.models import (
    Account,
    Bill,
    Office,
    QueueTicket,
    ServiceRequest,
    StaffUser,
    Station,
)
from payments import audit, events
from payments.db import utcnow
from payments.models import Channel, Payment, PaymentStatus, TenderKind
from payments.outbox import DeliveryError, OutboxMessage, enqueue
from receipts.document import (
    BillLine,
    QueueTicketDocument,
    ReceiptDocument,
    ServiceRequestDocument,
    TenderEntry,
    mask_name,
)
from receipts.mail import MailUnavailable, SmtpSettings, deliver_email_job, email_payload
from receipts.printing import (
    EMAIL_TOPIC,
    PRINT_TOPIC,
    PrinterUnavailable,
    PrintJournal,
    deliver_print_job,
    job_key,
    print_payload,
)

KIOSK_RECEIPT_WINDOW = dt.timedelta(minutes=15)
RECEIPT_STATUSES = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.VOIDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


class ReceiptNotFound(LookupError):
    pass


def cashier_name(user: StaffUser | None) -> str | None:
    """First name and last initial: enough for the customer, no more."""
    if user is None:
        return None
    parts = user.full_name.split()
    if len(parts) < 2:
        return user.full_name
    return f"{parts[0]} {parts[-1][0]}."


def build_receipt_document(
    session: Session,
    payment: Payment,
    *,
    reprint: bool = False,
    service_request_ref: str | None = None,
) -> ReceiptDocument:
    """The receipt of a completed payment, as the records stand now."""
    if not payment.receipt_number:
        raise ReceiptNotFound("this payment has no receipt number (it did not complete)")
    office = session.get(Office, payment.office_id)
    account = session.get(Account, payment.account_id)
    station = session.get(Station, payment.station_id) if payment.station_id else None
    staff = session.get(StaffUser, payment.staff_user_id) if payment.staff_user_id else None
    bill_numbers = dict(
        session.execute(
            select(Bill.id, Bill.number).where(
                Bill.id.in_([a.bill_id for a in payment.allocations])
            )
        ).all()
    )
    at_kiosk = payment.channel == Channel.KIOSK or staff is None
    return ReceiptDocument(
        office_name=office.name,
        office_address=(office.address, office.city_line),
        office_phone=office.phone,
        timezone=office.timezone,
        receipt_number=payment.receipt_number,
        business_date=payment.business_date,
        issued_at=payment.completed_at or payment.created_at,
        station_name=station.name if station else None,
        cashier=None if at_kiosk else cashier_name(staff),
        account_number=payment.account_number,
        account_name_masked=mask_name(account.name) if account else "",
        service_address=account.service_address if account else "",
        amount_cents=payment.amount_cents,
        bills=tuple(
            BillLine(bill_numbers.get(a.bill_id, str(a.bill_id)), a.amount_cents)
            for a in payment.allocations
        ),
        tenders=tuple(TenderEntry(t.kind, t.amount_cents, t.reference) for t in payment.tenders),
        change_cents=payment.change_cents or 0,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        card_auth_code=payment.card_auth_code,
        balance_after_cents=account.balance_cents if account else None,
        service_request_ref=service_request_ref,
        voided=payment.status == PaymentStatus.VOIDED,
        refunded_cents=payment.refunded_cents or 0,
        reprint=reprint,
        language=payment.language or "en",
    )


def print_jobs_for(session: Session, number: str) -> list[OutboxMessage]:
    """Every print job of a receipt (first issue and reprints), oldest first."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == PRINT_TOPIC, OutboxMessage.key.like(f"{number}:%"))
            .order_by(OutboxMessage.id)
        )
    )


def receipt_document(session: Session, payment: Payment, *, reprint: bool = False):
    """The receipt as first issued (balance after payment as it was then), with today's
    void and refund marks. Falls back to building it from the records."""
    first = next(
        (m for m in print_jobs_for(session, payment.receipt_number or "") if "document" in m.data),
        None,
    )
    if first is None:
        email = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.topic == EMAIL_TOPIC,
                OutboxMessage.key == f"{payment.receipt_number}:email",
            )
        )
        first = email
    if first is None:
        return build_receipt_document(session, payment, reprint=reprint)
    original = ReceiptDocument.from_dict(first.data["document"])
    from dataclasses import replace

    return replace(
        original,
        voided=payment.status == PaymentStatus.VOIDED,
        refunded_cents=payment.refunded_cents or 0,
        reprint=reprint,
    )


def _printer_url(station: Station | None) -> str | None:
    return station.printer_url if station else None


def enqueue_receipt(
    session: Session,
    payment: Payment,
    *,
    copies: int = 1,
    reprint: bool = False,
    printer_url: str | None = None,
    email: str | None = None,
    kick_drawer: bool | None = None,
    now: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Queue print jobs (one per copy) and, for a first issue with an address, the email.

    A reprint gets its own keys (``NUMBER:reprintN:copyK``) and the REPRINT mark. Kiosk print
    jobs expire after 15 minutes: a late receipt must not lie in an unattended tray.
    """
    if copies < 0 or copies > 5:
        raise ValueError("copies must be between 0 and 5")
    now = now or utcnow()
    station = session.get(Station, payment.station_id) if payment.station_id else None
    doc = receipt_document(session, payment, reprint=reprint)
    url = printer_url or _printer_url(station)
    reprint_no = 0
    if reprint:
        reprint_no = 1 + (
            session.scalar(
                select(func.count()).where(
                    OutboxMessage.topic == PRINT_TOPIC,
                    OutboxMessage.key.like(f"{payment.receipt_number}:reprint%:copy1"),
                )
            )
            or 0
        )
    if kick_drawer is None:
        kick_drawer = (
            not reprint
            and station is not None
            and station.kind == "counter"
            and any(t.kind == TenderKind.CASH for t in payment.tenders)
        )
    expires = (
        now + KIOSK_RECEIPT_WINDOW if station is not None and station.kind == "kiosk" else None
    )
    messages = []
    for copy in range(1, copies + 1):
        payload = print_payload(
            doc, url, copy=copy, kick_drawer=kick_drawer and copy == 1, expires_at=expires
        )
        messages.append(
            enqueue(
                session,
                PRINT_TOPIC,
                job_key(payment.receipt_number, copy, reprint_no),
                payload,
                office_id=payment.office_id,
            )
        )
    if copies:
        _print_soon(session)
    if email and not reprint:
        messages.append(
            enqueue(
                session,
                EMAIL_TOPIC,
                f"{payment.receipt_number}:email",
                email_payload(doc, email),
                office_id=payment.office_id,
            )
        )
    return messages


def on_payment_succeeded(session: Session, payment: Payment, **_: object) -> None:
    """Print at the station and email when the customer gave an address. A kiosk customer
    who chose the emailed receipt gets no paper."""
    station = session.get(Station, payment.station_id) if payment.station_id else None
    copies = 1 if station is not None else 0
    if payment.channel == Channel.KIOSK and payment.email:
        copies = 0
    enqueue_receipt(session, payment, copies=copies, email=payment.email)


_PRINT_AFTER_COMMIT = "payoffice.print_after_commit"


def _print_soon(session: Session) -> None:
    """Ask for an immediate print pass once this transaction commits (see init_app)."""
    session.info[_PRINT_AFTER_COMMIT] = True


def init_app(app) -> None:
    """Print right after the commit that made a receipt, instead of at the worker's next
    poll (PAYOFFICE_PRINT_IMMEDIATELY). The worker still delivers anything this misses."""
    from sqlalchemy import event

    sessions = app.extensions["payoffice.db"].sessions

    @event.listens_for(sessions, "after_commit")
    def _print_after_commit(session: Session) -> None:
        if session.info.pop(_PRINT_AFTER_COMMIT, False) and app.config["PRINT_IMMEDIATELY"]:
            print_now(sessions, app.config)

    @event.listens_for(sessions, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(_PRINT_AFTER_COMMIT, None)


def register() -> None:
    """Subscribe to payment events, after the account-balance hooks."""
    from kiosk import payment_hooks

    payment_hooks.register()
    events.subscribe(events.PAYMENT_SUCCEEDED, on_payment_succeeded)


def enqueue_ticket(
    session: Session, ticket: QueueTicket, estimated_wait_minutes: int | None = None
) -> OutboxMessage | None:
    """Print a queue ticket at the kiosk that issued it (nothing if it has no station)."""
    station = session.get(Station, ticket.station_id) if ticket.station_id else None
    if station is None:
        return None
    office = session.get(Office, ticket.office_id)
    doc = QueueTicketDocument(
        office_name=office.name,
        number=ticket.number,
        service=ticket.service,
        issued_at=ticket.issued_at,
        estimated_wait_minutes=estimated_wait_minutes,
        language=ticket.language,
        timezone=office.timezone,
    )
    key = f"ticket:{office.code}:{ticket.business_date.isoformat()}:{ticket.number}"
    expires = utcnow() + KIOSK_RECEIPT_WINDOW
    _print_soon(session)
    return enqueue(
        session,
        PRINT_TOPIC,
        key,
        print_payload(doc, station.printer_url, expires_at=expires),
        office_id=office.id,
    )


def enqueue_service_request(
    session: Session, request: ServiceRequest, station: Station | None
) -> OutboxMessage | None:
    """Print the service-request slip (reference, what happens next) at the kiosk where the
    resident asked for it (nothing without a station)."""
    if station is None:
        return None
    office = session.get(Office, request.office_id)
    doc = ServiceRequestDocument(
        office_name=office.name,
        reference=request.reference,
        service=request.kind,
        issued_at=request.created_at or utcnow(),
        office_address=(office.address, office.city_line),
        office_phone=office.phone,
        language=request.language,
        timezone=office.timezone,
    )
    expires = utcnow() + KIOSK_RECEIPT_WINDOW if station.kind == "kiosk" else None
    key = f"service-request:{office.code}:{request.reference}"
    _print_soon(session)
    return enqueue(
        session,
        PRINT_TOPIC,
        key,
        print_payload(doc, station.printer_url, expires_at=expires),
        office_id=office.id,
    )


def reprint(
    session: Session, payment: Payment, *, station_id: int | None, actor: str, copies: int = 1
) -> list[OutboxMessage]:
    """Reprint a receipt, marked REPRINT, where the caller stands: the station's printer, or
    the on-screen preview for staff away from any station. Audited."""
    station = session.get(Station, station_id) if station_id is not None else None
    printer_url = (station.printer_url if station else None) or "preview://"
    messages = enqueue_receipt(
        session, payment, copies=copies, reprint=True, printer_url=printer_url
    )
    audit.record(
        session,
        "receipt.reprinted",
        actor=actor,
        entity="payment",
        entity_id=payment.id,
        office_id=payment.office_id,
        details={"receipt": payment.receipt_number, "copies": copies},
    )
    return messages


def find_payment(session: Session, receipt_number: str) -> Payment:
    payment = session.scalar(select(Payment).where(Payment.receipt_number == receipt_number))
    if payment is None or payment.status not in RECEIPT_STATUSES:
        raise ReceiptNotFound(receipt_number)
    return payment


def may_see(principal: Principal, payment: Payment, now: dt.datetime | None = None) -> bool:
    """Staff see every receipt; a kiosk only those paid at itself in the last 15 minutes."""
    if principal.is_staff:
        return True
    if not principal.is_kiosk or principal.station_id is None:
        return False
    if payment.station_id != principal.station_id:
        return False
    done = payment.completed_at or payment.created_at
    return (now or utcnow()) - done <= KIOSK_RECEIPT_WINDOW


def station_printer_status(station: Station | None) -> PrinterStatus:
    """The printer's status for the kiosk's check before a payment (preview is online)."""
    if station is None:
        return PrinterStatus.UNKNOWN
    try:
        return check_status(station.printer_url or "preview://")
    except ValueError:
        return PrinterStatus.UNKNOWN


def print_problems(session: Session, office_id: int) -> list[dict[str, Any]]:
    """Print jobs of the office that are waiting after a failed attempt (the counter's
    printer alert): key, station printer, attempts and the last error."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.topic == PRINT_TOPIC,
            OutboxMessage.status == "pending",
            OutboxMessage.last_error.is_not(None),
        )
        .order_by(OutboxMessage.id)
    )
    office = session.get(Office, office_id)
    problems = []
    for m in rows:
        number = m.key.split(":", 1)[0]
        own = (f"ticket:{office.code}:", f"service-request:{office.code}:")
        if not (number.startswith(f"{office.code}-") or m.key.startswith(own)):
            continue
        problems.append(
            {
                "key": m.key,
                "printer_url": m.data.get("printer_url"),
                "attempts": m.attempts,
                "last_error": m.last_error,
                "waiting_since": m.created_at,
            }
        )
    return problems


def print_now(sessions, config: Mapping[str, Any]):
    """Start one delivery pass of print jobs in the background, right after a commit, so the
    receipt does not wait for the worker's next poll. Safe beside the worker: each job is
    leased by whoever takes it first."""
    import threading

    from payments.outbox import deliver_due

    handler = make_print_handler(config)

    def run():
        try:
            deliver_due(sessions, {PRINT_TOPIC: handler}, topics=[PRINT_TOPIC], limit=10)
        except Exception:  # noqa: BLE001 - the worker will deliver it on its next pass
            import logging

            logging.getLogger(__name__).exception("immediate print pass failed")

    thread = threading.Thread(target=run, name="print-now", daemon=True)
    thread.start()
    return thread


# -- outbox handlers ---------------------------------------------------------------------------


def _instance(config: Mapping[str, Any]) -> Path:
    return Path(config.get("INSTANCE_PATH") or "instance")


def make_print_handler(config: Mapping[str, Any]):
    preview_dir = _instance(config) / "receipts"
    journal = PrintJournal(_instance(config) / "print-journal")
    journal.prune()

    def deliver(message: OutboxMessage) -> str:
        try:
            result = deliver_print_job(
                message.key, message.data, preview_dir=preview_dir, journal=journal
            )
        except PrinterUnavailable as exc:
            raise DeliveryError(f"printer {exc.status.value}: {exc}") from exc
        return str(result)

    return deliver


def smtp_settings(config: Mapping[str, Any]) -> SmtpSettings:
    return SmtpSettings(
        host=config.get("SMTP_HOST"),
        port=int(config.get("SMTP_PORT") or 587),
        username=config.get("SMTP_USERNAME"),
        password=config.get("SMTP_PASSWORD"),
        starttls=bool(config.get("SMTP_STARTTLS", True)),
        mail_from=config.get("MAIL_FROM") or "receipts@payoffice.invalid",
    )


def make_email_handler(config: Mapping[str, Any]):
    settings = smtp_settings(config)

    def deliver(message: OutboxMessage) -> str:
        try:
            return deliver_email_job(message.key, message.data, settings)
        except MailUnavailable as exc:
            raise DeliveryError(str(exc)) from exc

    return deliver


def _register_handlers() -> None:
    from kiosk.worker import register_handler

    register_handler(PRINT_TOPIC, make_print_handler)
    register_handler(EMAIL_TOPIC, make_email_handler)


_register_handlers()
