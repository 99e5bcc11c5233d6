"""The counter's account and payment screens, without Flask: what the account page shows
(balance, open bills, payment history, service requests, visits) and taking a payment from
the cashier's form (amount choice, split tenders, duplicate guard, over-limit override,
the drawer check, the card reader).

Views parse the request into a ``PayForm`` and call ``take_payment``; it works inside the
caller's transaction and raises ``PayError`` (nothing written) for anything refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import accounts, queue, vocabulary
from kiosk.models import Account, Bill, ServiceRequest, StaffUser, Station, Visit
from payments import audit, drawer, service
from payments.db import DATE_AND_CLOCK, office_time
from payments.gateway import CardGateway
from payments.models import Channel, Payment, TenderKind
from payments.money import AmountError, AmountLimits, format_amount, parse_amount
from payments.rules import PaymentRules
from payments.states import IN_FLIGHT, PaymentError

HISTORY_LIMIT = 50
TENDER_LABELS = {
    TenderKind.CASH.value: "Cash",
    TenderKind.CHECK.value: "Check",
    TenderKind.MONEY_ORDER.value: "Money order",
    TenderKind.CARD.value: "Card",
}
STATUS_LABELS = {
    "created": "Started",
    "awaiting_card": "Waiting for card",
    "processing": "Card processing",
    "succeeded": "Paid",
    "failed": "Failed",
    "canceled": "Canceled",
    "voided": "Voided",
    "partially_refunded": "Partly refunded",
    "refunded": "Refunded",
}
IN_DRAWER = {TenderKind.CASH.value, TenderKind.CHECK.value, TenderKind.MONEY_ORDER.value}


class PayError(ValueError):
    """A payment the counter refuses; ``code`` is stable, ``message`` is for the cashier.

    ``needs`` says what would let it through: ``"confirm"`` (a suspected duplicate),
    ``"supervisor"`` (over the counter limit) or ``"drawer"`` (no open drawer here)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        needs: str | None = None,
        keep: bool = False,
        **extra: Any,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.needs = needs
        self.keep = keep  # commit what was written (a refused override's audit entry)
        self.extra = extra


# -- the account page ----------------------------------------------------------------------


def local_time(at: dt.datetime | None) -> str:
    return office_time(at, DATE_AND_CLOCK, blank="")


def _tender_text(kind: str, cents: int, reference: str | None) -> str:
    text = f"{TENDER_LABELS.get(kind, kind)} {format_amount(cents)}"
    return f"{text} #{reference}" if reference else text


def payment_row(payment: Payment) -> dict[str, Any]:
    """A payment as one line of an account's history."""
    return {
        "id": payment.id,
        "receipt_number": payment.receipt_number,
        "when": local_time(payment.completed_at or payment.created_at),
        "channel": payment.channel,
        "amount": format_amount(payment.amount_cents),
        "tenders": [_tender_text(t.kind, t.amount_cents, t.reference) for t in payment.tenders],
        "status": payment.status,
        "status_label": STATUS_LABELS.get(payment.status, payment.status),
        "refunded": format_amount(payment.refunded_cents) if payment.refunded_cents else None,
    }


def _labels(codes: str | None) -> list[str]:
    return [vocabulary.label(c) for c in (codes or "").split(",") if c]


def account_page(session: Session, number: str) -> dict[str, Any] | None:
    """Everything the account page shows, unmasked (staff), or None for an unknown number.

    Raises ``accounts.AccountLookupError`` for a number that is not digits."""
    detail = accounts.get_account(session, number)
    if detail is None:
        return None
    account_id = session.scalar(select(Account.id).where(Account.number == detail.account.number))
    view = accounts.account_view(detail, masked=False)
    bill_ids = dict(
        session.execute(
            select(Bill.number, Bill.id).where(Bill.account_id == account_id, Bill.open_cents > 0)
        ).all()
    )
    for bill in view["open_bills"]:
        bill["id"] = bill_ids.get(bill["number"])
    payments = session.scalars(
        select(Payment)
        .where(Payment.account_id == account_id)
        .order_by(Payment.created_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    requests = session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.account_id == account_id)
        .order_by(ServiceRequest.created_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    visits = session.scalars(
        select(Visit)
        .where(Visit.account_id == account_id)
        .order_by(Visit.started_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return {
        "account": view,
        "account_id": account_id,
        "payments": [payment_row(p) for p in payments],
        "service_requests": [
            {
                "reference": r.reference,
                "kind": r.kind.replace("_", " "),
                "status": r.status.replace("_", " "),
                "channel": r.channel,
                "created": local_time(r.created_at),
                "scheduled_for": r.scheduled_for.isoformat() if r.scheduled_for else None,
            }
            for r in requests
        ],
        "visits": [
            {
                "when": local_time(v.started_at),
                "channel": v.channel,
                "reasons": _labels(v.reason_codes),
                "outcome": vocabulary.label(v.outcome_code) if v.outcome_code else None,
                "notes": v.notes,
            }
            for v in visits
        ],
    }


def account_opened(session: Session, station_id: int | None, number: str) -> None:
    """The cashier opened an account page: the visit open at the station is about it (when
    it names no account yet; see ``queue.note_account``)."""
    if station_id is None:
        return
    account_id = session.scalar(select(Account.id).where(Account.number == number[:40]))
    queue.note_account(session, station_id, account_id)


# -- taking a payment ------------------------------------------------------------------------


@dataclass(frozen=True)
class PayForm:
    """The payment form as typed (text), before any parsing."""

    amount: str = ""
    bill: str = ""  # a bill number, when paying one bill
    cash: str = ""
    check: str = ""
    check_number: str = ""
    check_bank: str = ""
    money_order: str = ""
    money_order_number: str = ""
    card: str = ""
    idempotency_key: str = ""
    confirm_duplicate: bool = False
    # The amount in cents the cashier confirmed as more than is owed (the rest a credit):
    # a confirmation holds for that amount only.
    credit_confirmed: str = ""
    supervisor_username: str = ""
    supervisor_password: str = field(default="", repr=False)

    @classmethod
    def from_mapping(cls, data: Any) -> PayForm:
        values = {}
        for f in dataclasses.fields(cls):
            raw = data.get(f.name)
            if f.type == "bool":
                values[f.name] = raw in ("1", "true", "on", True)
            else:
                values[f.name] = raw if isinstance(raw, str) else ""
        return cls(**values)


@dataclass(frozen=True)
class Desk:
    """Who takes the payment and where."""

    office_id: int
    user: StaffUser
    station: Station | None


def _amount(text: str, what: str) -> int | None:
    """Cents typed into one field, or None when left blank."""
    if not text.strip():
        return None
    try:
        cents = parse_amount(text)
    except AmountError as exc:
        raise PayError(f"bad_{what}", f"{_FIELD_NAMES[what]}: {exc.message}") from exc
    if cents <= 0:
        raise PayError(f"bad_{what}", f"{_FIELD_NAMES[what]}: the amount must be more than zero.")
    return cents


_FIELD_NAMES = {
    "amount": "Amount to pay",
    "cash": "Cash tendered",
    "check": "Check amount",
    "money_order": "Money order amount",
    "card": "Card amount",
}


def tenders_of(form: PayForm) -> tuple[service.TenderInput, ...]:
    lines = []
    cash = _amount(form.cash, "cash")
    if cash is not None:
        lines.append(service.TenderInput(TenderKind.CASH.value, cash))
    check = _amount(form.check, "check")
    if check is not None or form.check_number.strip():
        if check is None:
            raise PayError("bad_check", "Check amount: enter the amount of the check.")
        lines.append(
            service.TenderInput(
                TenderKind.CHECK.value, check, form.check_number, form.check_bank or None
            )
        )
    money_order = _amount(form.money_order, "money_order")
    if money_order is not None or form.money_order_number.strip():
        if money_order is None:
            raise PayError("bad_money_order", "Money order amount: enter the amount.")
        lines.append(
            service.TenderInput(TenderKind.MONEY_ORDER.value, money_order, form.money_order_number)
        )
    card = _amount(form.card, "card")
    if card is not None:
        lines.append(service.TenderInput(TenderKind.CARD.value, card))
    if not lines:
        raise PayError(
            "no_tenders", "Enter how the customer pays: cash, check, money order or card."
        )
    return tuple(lines)


def _bill_id(session: Session, account_id: int, number: str) -> int | None:
    number = number.strip()
    if not number:
        return None
    bill = session.scalars(select(Bill).where(Bill.number == number)).first()
    if bill is None or bill.account_id != account_id:
        raise PayError("bill_not_found", f"Bill {number} is not a bill of this account.")
    if bill.open_cents <= 0:
        raise PayError("bill_already_paid", f"Bill {number} is already paid.")
    return bill.id


def _amount_due(session: Session, account: Account, form: PayForm) -> int:
    """The amount to pay: as typed, else the bill chosen, else the full balance."""
    typed = _amount(form.amount, "amount")
    if typed is not None:
        return typed
    if form.bill.strip():
        bill = session.scalars(select(Bill).where(Bill.number == form.bill.strip())).first()
        if bill is not None and bill.account_id == account.id and bill.open_cents > 0:
            return bill.open_cents
    if account.balance_cents > 0:
        return account.balance_cents
    raise PayError("bad_amount", "Amount to pay: enter the amount.")


def _override_limits(rules: PaymentRules) -> PaymentRules:
    limits = dict(rules.limits)
    current = rules.limits_for(Channel.COUNTER.value)
    limits[Channel.COUNTER.value] = AmountLimits(minimum=current.minimum, maximum=None)
    return dataclasses.replace(rules, limits=limits)


def _approve_over_limit(
    session: Session,
    desk: Desk,
    account: Account,
    form: PayForm,
    amount: int,
    limit: int,
    policy: Any,
) -> StaffUser:
    from kiosk import override  # brief D's module

    try:
        return override.verify_supervisor(
            session,
            form.supervisor_username,
            form.supervisor_password,
            cashier_id=desk.user.id,
            action="payment.over_limit",
            policy=policy,
            entity="account",
            entity_id=account.number,
        )
    except override.OverrideError as exc:
        raise PayError(
            exc.code,
            exc.message,
            needs="supervisor",
            keep=True,
            limit=format_amount(limit),
            amount=format_amount(amount),
        ) from exc


def reader_for(station: Station | None) -> str:
    """The station's card reader (a simulated one, named after the station, in the demo)."""
    if station is not None and station.reader_id:
        return station.reader_id
    return f"simulated-{station.id}" if station is not None else "simulated-counter"


def take_payment(
    session: Session,
    desk: Desk,
    number: str,
    form: PayForm,
    rules: PaymentRules,
    gateway: CardGateway | None,
    *,
    override_policy: Any = None,
    commit: Any = None,
) -> Payment:
    """Take a counter payment from the cashier's form.

    Cash, checks and money orders need an open drawer at this station. Over the counter
    limit needs a supervisor's credentials on the form (brief D's ``kiosk.override``); a
    suspected duplicate needs ``confirm_duplicate``. With a card tender the payment is
    committed (through ``commit``) before the reader is started, as the kiosk API does, so a
    crash after the card is taken leaves a row for the recovery sweep to complete.
    """
    account = session.scalars(select(Account).where(Account.number == number)).first()
    if account is None:
        raise PayError("account_not_found", "No account with that number.")
    amount = _amount_due(session, account, form)
    tenders = tenders_of(form)
    owed = max(account.balance_cents, 0)
    if rules.allow_overpayment and amount > owed and form.credit_confirmed != str(amount):
        # Mostly a typo (1200 for 12.00): the cashier checks before the money is taken.
        raise PayError(
            "credit_unconfirmed",
            f"{format_amount(amount)} is {format_amount(amount - owed)} more than the "
            f"{format_amount(owed)} owed: the extra stays on the account as a credit. "
            "Check the amount with the customer.",
            needs="confirm_credit",
            amount_cents=amount,
            credit=format_amount(amount - owed),
        )
    kinds = {t.kind for t in tenders}
    if kinds & IN_DRAWER:
        if desk.station is None:
            raise PayError(
                "no_station",
                "This browser is not a counter station: cash, checks and money orders can "
                "only be taken at a station with a cash drawer.",
            )
        if drawer.open_drawer_at(session, desk.station.id) is None:
            raise PayError(
                "no_open_drawer",
                "No cash drawer is open at this station. Open your drawer first, then take "
                "the payment.",
                needs="drawer",
            )
    limit = rules.limits_for(Channel.COUNTER.value).maximum
    approver: StaffUser | None = None
    if limit is not None and amount > limit:
        if not form.supervisor_username and not form.supervisor_password:
            raise PayError(
                "over_limit",
                f"{format_amount(amount)} is over the counter limit of {format_amount(limit)}. "
                "A supervisor must approve it.",
                needs="supervisor",
                limit=format_amount(limit),
                amount=format_amount(amount),
            )
        approver = _approve_over_limit(session, desk, account, form, amount, limit, override_policy)
        rules = _override_limits(rules)
    bill_id = _bill_id(session, account.id, form.bill)
    command = service.PaymentCommand(
        office_id=desk.office_id,
        account_id=account.id,
        account_number=account.number,
        channel=Channel.COUNTER.value,
        amount_cents=amount,
        tenders=tenders,
        idempotency_key=form.idempotency_key,
        station_id=desk.station.id if desk.station else None,
        staff_user_id=desk.user.id,
        bill_ids=(bill_id,) if bill_id else (),
        confirm_duplicate=form.confirm_duplicate,
        actor=desk.user.username,
    )
    try:
        outcome = service.create_payment(session, command, rules)
    except service.Conflict as exc:
        if exc.code == "duplicate_suspected":
            raise PayError(exc.code, exc.message, needs="confirm", **exc.extra) from exc
        raise PayError(exc.code, exc.message) from exc
    except PaymentError as exc:
        raise PayError(exc.code, exc.message) from exc
    payment = outcome.payment
    queue.note_account(session, command.station_id, account.id, paid=True)
    if approver is not None and not outcome.replayed:
        audit.record(
            session,
            "payment.over_limit_approved",
            actor=desk.user.username,
            entity="payment",
            entity_id=payment.id,
            office_id=payment.office_id,
            details={
                "cashier": desk.user.username,
                "supervisor": approver.username,
                "amount_cents": amount,
                "limit_cents": limit,
            },
        )
    if not outcome.replayed and service.card_tender(payment) and payment.status == "created":
        if gateway is None:
            raise PayError("gateway_unavailable", "Card payments are not available right now.")
        if commit is not None:
            commit()
        service.start_card(
            session, payment, gateway, reader_id=reader_for(desk.station), actor=desk.user.username
        )
    return payment


def refresh(session: Session, payment: Payment, gateway: CardGateway | None, actor: str) -> None:
    """Ask the processor about a card attempt still in flight (the page's own poll)."""
    if payment.status in IN_FLIGHT and service.card_tender(payment) and gateway is not None:
        service.refresh_card(session, payment, gateway, actor=actor)
