"""Taking payments: create (with tender math, limits, idempotency and the duplicate guard),
the card flow, void and refund. Every function works inside the caller's transaction and
never commits; the caller commits once.

The account and bill rows belong to ``kiosk`` (the CIS mirror). They are read here through the
shared metadata, as ``payments.posting`` does, and changed only by the subscribers of
``payments.events`` (``kiosk.payment_hooks``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, class_mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.instrumentation import ClassManager

from payments import audit, days, drawer, events, outbox, states
from payments.db import OFFICE_TZ, Base, business_date, utcnow
from payments.gateway import (
    CardGateway,
    CardRequest,
    CardResult,
    CardStatus,
    GatewayError,
    idempotency_key,
)
from payments.models import (
    BusinessDay,
    Channel,
    DayStatus,
    Payment,
    PaymentAllocation,
    ReceiptSequence,
    Refund,
    TenderKind,
    TenderLine,
    new_id,
)
from payments.models import PaymentStatus as S
from payments.money import AmountError, format_amount
from payments.posting import (
    CIS_PAYMENT_TOPIC,
    CIS_REFUND_TOPIC,
    CIS_VOID_TOPIC,
    payment_record,
    refund_record,
    void_record,
)
from payments.prepared import Prepared, current_transaction, insert_into
from payments.rules import PaymentRules
from payments.states import InvalidTransition, PaymentError

LANGUAGES = ("en", "es", "vi")
MAX_REFERENCE = 64


class ValidationError(PaymentError):
    status = 400


class Conflict(PaymentError):
    status = 409


class NotFound(PaymentError):
    status = 404


class GatewayFailure(PaymentError):
    status = 502


@dataclass(frozen=True)
class TenderInput:
    kind: str
    amount_cents: int
    reference: str | None = None  # check or money-order number
    bank: str | None = None


@dataclass(frozen=True)
class PaymentCommand:
    office_id: int
    account_id: int
    account_number: str
    channel: str
    amount_cents: int
    tenders: tuple[TenderInput, ...]
    idempotency_key: str
    station_id: int | None = None
    staff_user_id: int | None = None
    language: str = "en"
    bill_ids: tuple[int, ...] = ()  # bills to pay first; otherwise oldest due first
    email: str | None = None
    confirm_duplicate: bool = False
    actor: str = "system"


@dataclass(frozen=True)
class CreateOutcome:
    payment: Payment
    replayed: bool  # True when the idempotency key was seen before: nothing new was written


# -- tender math -------------------------------------------------------------------------------


_TENDER_KINDS = frozenset(k.value for k in TenderKind)
_CHANNELS = frozenset(c.value for c in Channel)


def _is_cents(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def tender_change(due_cents: int, tenders: tuple[TenderInput, ...] | list[TenderInput]) -> int:
    """Validate tender lines against what is due and return the change (from cash only).

    Invariant: ``sum(tenders) - change == due_cents``. Only cash may exceed what is due; a
    check, money order or card may not, so change never comes out of them.
    """
    if not tenders:
        raise ValidationError("no_tenders", "Add at least one way of paying.")
    cards = 0
    for line in tenders:
        if line.kind not in _TENDER_KINDS:
            raise ValidationError("bad_tender_kind", f"Unknown tender kind {line.kind!r}.")
        if not _is_cents(line.amount_cents) or line.amount_cents <= 0:
            raise ValidationError("bad_tender_amount", "Each tender amount must be more than zero.")
        if line.kind == TenderKind.CARD:
            cards += 1
        if line.kind in (TenderKind.CHECK, TenderKind.MONEY_ORDER):
            ref = (line.reference or "").strip()
            if not ref:
                what = "check" if line.kind == TenderKind.CHECK else "money order"
                raise ValidationError("reference_required", f"Enter the {what} number.")
            if len(ref) > MAX_REFERENCE or len(line.bank or "") > MAX_REFERENCE:
                raise ValidationError("reference_too_long", "The number or bank name is too long.")
    if cards > 1:
        raise ValidationError("one_card_only", "Only one card can be used per payment.")
    total = sum(t.amount_cents for t in tenders)
    non_cash = sum(t.amount_cents for t in tenders if t.kind != TenderKind.CASH)
    if non_cash > due_cents:
        raise ValidationError(
            "non_cash_exceeds_due",
            "A check, money order or card cannot be for more than is owed; only cash gives change.",
        )
    if total < due_cents:
        raise ValidationError(
            "tenders_short",
            f"The tenders add up to {format_amount(total)}, less than {format_amount(due_cents)}.",
        )
    return total - due_cents


# -- helpers -------------------------------------------------------------------------------------


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _office(session: Session, office_id: int) -> tuple[str, ZoneInfo]:
    """The office's code and time zone (kept for the session: offices do not change mid-way)."""
    cache = session.info.setdefault("payments.offices", {})
    if office_id not in cache:
        cache[office_id] = _load_office(session, office_id)
    return cache[office_id]


def _load_office(session: Session, office_id: int) -> tuple[str, ZoneInfo]:
    offices = _table("offices")
    row = session.execute(
        select(offices.c.code, offices.c.timezone).where(offices.c.id == office_id)
    ).first()
    if row is None:
        raise NotFound("office_not_found", "Unknown office.")
    return row.code, ZoneInfo(row.timezone or OFFICE_TZ.key)


# -- prepared statements -------------------------------------------------------------------------
# The statements every payment runs (see payments.prepared). FOR UPDATE is written once: the
# SQLite compiler leaves it out (BEGIN IMMEDIATE already holds the write lock there).

_P = Payment.__table__
_T = TenderLine.__table__
_A = PaymentAllocation.__table__
_R = ReceiptSequence.__table__
_BY_IDEMPOTENCY_KEY = Prepared(
    select(_P.c.id).where(_P.c.idempotency_key == bindparam("key", type_=_P.c.idempotency_key.type))
)
_RECENT_DUPLICATE = Prepared(
    select(_P.c.id)
    .where(
        _P.c.account_id == bindparam("account_id", type_=_P.c.account_id.type),
        _P.c.amount_cents == bindparam("amount_cents", type_=_P.c.amount_cents.type),
        _P.c.created_at >= bindparam("since", type_=_P.c.created_at.type),
        # Spelled out rather than IN (...): an IN list is expanded per call.
        or_(
            *(
                _P.c.status == status.value
                for status in (
                    S.CREATED,
                    S.AWAITING_CARD,
                    S.PROCESSING,
                    S.SUCCEEDED,
                    S.PARTIALLY_REFUNDED,
                )
            )
        ),
    )
    .order_by(_P.c.created_at.desc())
    .limit(1)
)
_D = BusinessDay.__table__
_DAY_STATUS = Prepared(
    select(_D.c.status).where(
        _D.c.office_id == bindparam("office_id"),
        _D.c.business_date == bindparam("day", type_=_D.c.business_date.type),
    )
)


def _account_statement():
    accounts = _table("accounts")
    return (
        select(accounts.c.id, accounts.c.number, accounts.c.balance_cents)
        .where(accounts.c.id == bindparam("account_id"))
        .with_for_update()
    )


def _open_bills_statement():
    bills = _table("bills")
    return (
        select(bills.c.id, bills.c.open_cents, bills.c.number)
        .where(bills.c.account_id == bindparam("account_id"), bills.c.open_cents > 0)
        .order_by(bills.c.due_date, bills.c.id)
        .with_for_update()
    )


# accounts and bills are kiosk's tables: built on first use, once kiosk.models registered them.
_ACCOUNT = Prepared(_account_statement)
_OPEN_BILLS = Prepared(_open_bills_statement)


def _next_seq_statement(insert):
    stmt = insert(_R).values(
        office_id=bindparam("office_id", type_=_R.c.office_id.type),
        business_date=bindparam("business_date", type_=_R.c.business_date.type),
        last_number=1,
    )
    return stmt.on_conflict_do_update(
        index_elements=[_R.c.office_id, _R.c.business_date],
        set_={"last_number": _R.c.last_number + 1},
    ).returning(_R.c.last_number)


_NEXT_RECEIPT_SEQ_SQLITE = Prepared(lambda: _next_seq_statement(sqlite_insert))
_NEXT_RECEIPT_SEQ_PG = Prepared(lambda: _next_seq_statement(pg_insert))
_INSERT_PAYMENT = Prepared(insert_into(_P))
_PAYMENT_COLUMNS = [c.key for c in _P.columns]
_INSERT_TENDER = Prepared(
    insert_into(_T, ["payment_id", "kind", "amount_cents", "reference", "bank"]).returning(_T.c.id)
)
_INSERT_ALLOCATION = Prepared(
    insert_into(_A, ["payment_id", "bill_id", "amount_cents"]).returning(_A.c.id)
)


def _for_update(session: Session, stmt):
    return stmt.with_for_update() if session.get_bind().dialect.name == "postgresql" else stmt


def _serialize(session: Session) -> None:
    """On PostgreSQL, take the audit log's transaction lock first. Every payment change ends
    up appending to the audit log (which takes this lock anyway); taking it before any row
    lock (account, bills, receipt counter) gives all payment writers one lock order, so a
    cash payment and a card result on the same account cannot deadlock. SQLite writers are
    already serialized by BEGIN IMMEDIATE."""
    audit.lock(session)


def _same_request(payment: Payment, command: PaymentCommand) -> bool:
    def lines(items):
        return sorted((t.kind, t.amount_cents, (t.reference or "").strip()) for t in items)

    return (
        payment.account_id == command.account_id
        and payment.amount_cents == command.amount_cents
        and payment.channel == command.channel
        and lines(payment.tenders) == lines(command.tenders)
    )


def get_payment(session: Session, payment_id: str, *, lock: bool = False) -> Payment:
    stmt = select(Payment).where(Payment.id == payment_id)
    payment = session.scalars(_for_update(session, stmt) if lock else stmt).first()
    if payment is None:
        raise NotFound("payment_not_found", "No payment with that id.")
    return payment


def find_recent_duplicate(
    session: Session,
    account_id: int,
    amount_cents: int,
    window: dt.timedelta,
    *,
    now: dt.datetime | None = None,
) -> Payment | None:
    """The newest payment for the same account and amount within ``window`` that took or may
    still take money (in flight or succeeded)."""
    session.flush()  # the prepared statement does not autoflush
    row = _RECENT_DUPLICATE.one(
        session,
        {
            "account_id": account_id,
            "amount_cents": amount_cents,
            "since": (now or utcnow()) - window,
        },
    )
    return None if row is None else session.get(Payment, row[0])


def next_receipt_seq(session: Session, office_id: int, day: dt.date) -> int:
    """The next receipt number for an office and business day. The increment is part of the
    caller's transaction, so a rollback leaves no gap; the row lock (PostgreSQL) or the write
    lock (SQLite, BEGIN IMMEDIATE) serializes concurrent payments."""
    postgresql = current_transaction(session).postgresql
    stmt = _NEXT_RECEIPT_SEQ_PG if postgresql else _NEXT_RECEIPT_SEQ_SQLITE
    return stmt.one(session, {"office_id": office_id, "business_date": day})[0]


def format_receipt_number(office_code: str, day: dt.date, seq: int) -> str:
    """SA-20261124-0001. (Spelled out: ``strftime`` costs ten times as much.)"""
    return f"{office_code}-{day.year:04d}{day.month:02d}{day.day:02d}-{seq:04d}"


# -- create --------------------------------------------------------------------------------------


def _validate_command(command: PaymentCommand, rules: PaymentRules) -> int:
    """Check the command's own fields; return the change due."""
    key = command.idempotency_key
    if not isinstance(key, str) or not key.strip() or len(key) > 128 or not key.isprintable():
        raise ValidationError("bad_idempotency_key", "An idempotency key of 1-128 characters.")
    if command.channel not in _CHANNELS:
        raise ValidationError("bad_channel", f"Unknown channel {command.channel!r}.")
    if not _is_cents(command.amount_cents):
        raise ValidationError("bad_amount", "The amount must be a whole number of cents.")
    try:
        rules.limits_for(command.channel).check(command.amount_cents)
    except AmountError as exc:
        raise ValidationError(f"amount_{exc.code}", exc.message) from exc
    if command.language not in LANGUAGES:
        raise ValidationError("bad_language", "The language must be en, es or vi.")
    email = command.email
    if email is not None and (len(email) > 254 or "@" not in email or " " in email.strip()):
        raise ValidationError("bad_email", "Enter a valid email address for the receipt.")
    if command.channel == Channel.KIOSK and any(t.kind != TenderKind.CARD for t in command.tenders):
        raise ValidationError("kiosk_card_only", "The kiosk takes card payments only.")
    fee = rules.card_fee_cents if any(t.kind == TenderKind.CARD for t in command.tenders) else 0
    return tender_change(command.amount_cents + fee, command.tenders)


def create_payment(
    session: Session,
    command: PaymentCommand,
    rules: PaymentRules | None = None,
    *,
    now: dt.datetime | None = None,
) -> CreateOutcome:
    """Create a payment. Without a card tender it succeeds at once (receipt number, bill
    allocation, CIS message); with one it waits in ``created`` for ``start_card``.

    A replay with the same idempotency key returns the same payment; the same key with a
    different request is refused (``idempotency_conflict``).
    """
    rules = rules or PaymentRules()
    # The prepared statements below do not autoflush: the caller's pending changes go first.
    session.flush()
    if isinstance(command.idempotency_key, str) and command.idempotency_key:
        _serialize(session)  # also makes concurrent requests with one key queue here
        existing = _by_idempotency_key(session, command.idempotency_key)
        if existing is not None:
            if not _same_request(existing, command):
                raise Conflict(
                    "idempotency_conflict",
                    "This idempotency key was already used for a different payment.",
                    payment_id=existing.id,
                )
            return CreateOutcome(existing, replayed=True)

    change = _validate_command(command, rules)
    now = now or utcnow()
    _ensure_day_open(
        session, command.office_id, business_date(now, _office(session, command.office_id)[1])
    )
    has_card = any(t.kind == TenderKind.CARD for t in command.tenders)
    fee = rules.card_fee_cents if has_card else 0

    account = _ACCOUNT.one(session, {"account_id": command.account_id})
    if account is None or account[1] != command.account_number:
        raise NotFound("account_not_found", "No account with that number.")
    owed = max(account[2], 0)
    if command.amount_cents > owed and not rules.allow_overpayment:
        raise ValidationError(
            "overpayment_not_allowed",
            f"The amount is more than the {format_amount(owed)} owed.",
            owed_cents=owed,
        )
    if command.amount_cents < owed and not rules.allow_partial:
        raise ValidationError(
            "partial_not_allowed",
            f"Please pay the full {format_amount(owed)} owed.",
            owed_cents=owed,
        )

    planned = _named_bills(session, command)

    if not command.confirm_duplicate:
        duplicate = find_recent_duplicate(
            session, command.account_id, command.amount_cents, rules.duplicate_window, now=now
        )
        if duplicate is not None:
            raise Conflict(
                "duplicate_suspected",
                f"A payment of {format_amount(command.amount_cents)} for this account was "
                "made a few minutes ago. Confirm to pay again.",
                payment_id=duplicate.id,
                receipt_number=duplicate.receipt_number,
            )

    payment = _new_payment(session, command, fee=fee, change=change, now=now)
    lines = [
        (t.kind, t.amount_cents, _blank_none(t.reference), _blank_none(t.bank))
        for t in command.tenders
    ]
    created = {
        "account": payment.account_number,
        "amount_cents": payment.amount_cents,
        "tenders": [[kind, cents] for kind, cents, _, _ in lines],
        "change_cents": change,
        "channel": payment.channel,
    }
    if not has_card:
        # Created and completed in one transaction: one audit entry tells both, and the rows
        # are written once, already complete.
        _complete_new(
            session, payment, lines, planned, actor=command.actor, now=now, details=created
        )
        return CreateOutcome(payment, replayed=False)
    payment.tenders = [
        TenderLine(kind=kind, amount_cents=cents, reference=reference, bank=bank)
        for kind, cents, reference, bank in lines
    ]
    payment.allocations = [PaymentAllocation(bill_id=b, amount_cents=a) for b, a in planned]
    session.add(payment)
    audit.record(
        session,
        "payment.created",
        actor=command.actor,
        entity="payment",
        entity_id=payment.id,
        office_id=payment.office_id,
        details=created,
    )
    return CreateOutcome(payment, replayed=False)


def _by_idempotency_key(session: Session, key: str) -> Payment | None:
    row = _BY_IDEMPOTENCY_KEY.one(session, {"key": key})
    return None if row is None else session.get(Payment, row[0])


def _ensure_day_open(session: Session, office_id: int, day: dt.date) -> None:
    """``days.ensure_day_open`` with one prepared statement: refuse a closed business day."""
    row = _DAY_STATUS.one(session, {"office_id": office_id, "day": day})
    if row is not None and row[0] in days.LOCKED:
        raise days.DayClosed(office_id, day)


def _new_payment(
    session: Session, command: PaymentCommand, *, fee: int, change: int, now: dt.datetime
) -> Payment:
    """The payment as first written, every column given (no ORM defaults needed)."""
    return _transient(
        Payment,
        id=new_id(),
        office_id=command.office_id,
        station_id=command.station_id,
        staff_user_id=command.staff_user_id,
        account_id=command.account_id,
        account_number=command.account_number,
        channel=command.channel,
        status=S.CREATED.value,
        amount_cents=command.amount_cents,
        fee_cents=fee,
        change_cents=change,
        refunded_cents=0,
        language=command.language,
        idempotency_key=command.idempotency_key,
        business_date=None,
        receipt_seq=None,
        receipt_number=None,
        email=(command.email or "").strip() or None,
        card_brand=None,
        card_last4=None,
        card_auth_code=None,
        processor_intent_id=None,
        processor_charge_id=None,
        reader_id=None,
        failure_code=None,
        failure_message=None,
        needs_review=False,
        created_at=now,
        updated_at=now,
        completed_at=None,
        voided_at=None,
        voided_by_id=None,
        void_reason=None,
        drawer_session_id=(
            drawer.drawer_for_tenders(
                session, command.station_id, {t.kind for t in command.tenders}
            )
            if command.channel == Channel.COUNTER
            else None
        ),
    )


def _blank_none(text: str | None) -> str | None:
    return (text or "").strip() or None


def _transient(cls: type[Base], **values):
    """A new ``cls`` holding ``values``, as its constructor makes it but without one attribute
    event per column (about 50 µs for a payment's 33). Give every column: no defaults apply."""
    manager = _MANAGERS.get(cls)
    if manager is None:
        manager = _MANAGERS[cls] = class_mapper(cls).class_manager  # configures the mappers
    obj = manager.new_instance()
    obj.__dict__.update(values)
    return obj


_MANAGERS: dict[type, ClassManager] = {}


def _named_bills(session: Session, command: PaymentCommand) -> list[tuple[int, int]]:
    """Lock the bills the command names and plan what goes to each (refused if one is paid)."""
    if not command.bill_ids:
        return []
    bills = _table("bills")
    rows = {
        r.id: r
        for r in session.execute(
            _for_update(
                session,
                select(bills.c.id, bills.c.account_id, bills.c.number, bills.c.open_cents).where(
                    bills.c.id.in_(command.bill_ids)
                ),
            )
        )
    }
    plan, remaining = [], command.amount_cents
    for bill_id in dict.fromkeys(command.bill_ids):
        row = rows.get(bill_id)
        if row is None or row.account_id != command.account_id:
            raise NotFound("bill_not_found", "That bill does not belong to this account.")
        if row.open_cents <= 0:
            raise Conflict(
                "bill_already_paid", f"Bill {row.number} is already paid.", bill_number=row.number
            )
        take = min(remaining, row.open_cents)
        if take > 0:
            plan.append((bill_id, take))
            remaining -= take
    return plan


def _plan_allocation(
    session: Session, account_id: int, amount_cents: int, preferred: list[int]
) -> list[tuple[int, int, str]]:
    """Final allocation at success, as (bill id, cents, bill number): the bills named first (as
    far as still open), then the account's other open bills, oldest due first; what is left
    stays as account credit. Locks the open bills (PostgreSQL)."""
    rows = _OPEN_BILLS.all(session, {"account_id": account_id})
    by_id = {r[0]: r for r in rows}
    order = [b for b in preferred if b in by_id] + [r[0] for r in rows if r[0] not in preferred]
    plan, remaining = [], amount_cents
    for bill_id in order:
        _, open_cents, number = by_id[bill_id]
        take = min(remaining, open_cents)
        if take <= 0:
            break
        plan.append((bill_id, take, number))
        remaining -= take
    return plan


def _allocate(session: Session, payment: Payment) -> dict[int, str]:
    """Allocate a payment already in the session (a card payment completing); return the
    numbers of its bills (bill id -> number) for the CIS record."""
    plan = _plan_allocation(
        session, payment.account_id, payment.amount_cents, [a.bill_id for a in payment.allocations]
    )
    if payment.allocations:
        payment.allocations.clear()
        session.flush()
    for bill_id, take, _ in plan:
        payment.allocations.append(PaymentAllocation(bill_id=bill_id, amount_cents=take))
    return {bill_id: number for bill_id, _, number in plan}


def _number_receipt(
    session: Session, payment: Payment, now: dt.datetime
) -> tuple[str, dict[str, object]]:
    """Number the receipt (gap-free per office and business day): the office code, and the
    payment's values that record it."""
    office_code, tz = _office(session, payment.office_id)
    day = business_date(now, tz)
    seq = next_receipt_seq(session, payment.office_id, day)
    return office_code, {
        "business_date": day,
        "receipt_seq": seq,
        "receipt_number": format_receipt_number(office_code, day, seq),
        "completed_at": now,
        "failure_code": None,
        "failure_message": None,
    }


def _give_receipt_number(session: Session, payment: Payment, now: dt.datetime) -> str:
    """Number the receipt of a payment in the session; return the office code."""
    office_code, values = _number_receipt(session, payment, now)
    for name, value in values.items():
        setattr(payment, name, value)
    return office_code


def _complete_new(
    session: Session,
    payment: Payment,
    lines: list[tuple[str, int, str | None, str | None]],
    planned: list[tuple[int, int]],
    *,
    actor: str,
    now: dt.datetime,
    details: dict,
) -> None:
    """Complete a payment that is not written yet (cash, check, money order): the same rows,
    audit entry, event and CIS message as ``_succeed``, written with prepared statements.

    ``payment`` is not in the session yet, so its values are set directly (an attribute event
    per value would only record history nobody reads); at the end it joins the session as if
    just loaded, with its tender lines and allocations."""
    payment.__dict__["tenders"] = [
        _transient(
            TenderLine,
            id=None,
            payment_id=payment.id,
            kind=kind,
            amount_cents=cents,
            reference=reference,
            bank=bank,
        )
        for kind, cents, reference, bank in lines
    ]
    states.check(payment, S.SUCCEEDED)
    plan = _plan_allocation(
        session, payment.account_id, payment.amount_cents, [b for b, _ in planned]
    )
    payment.__dict__["allocations"] = [
        _transient(PaymentAllocation, id=None, payment_id=payment.id, bill_id=b, amount_cents=c)
        for b, c, _ in plan
    ]
    office_code, receipt = _number_receipt(session, payment, now)
    payment.__dict__.update(receipt)
    states.transition(
        session,
        payment,
        S.SUCCEEDED,
        actor=actor,
        details={"receipt": payment.receipt_number, **details},
    )
    _insert_rows(session, payment)
    events.publish(session, events.PAYMENT_SUCCEEDED, payment)
    outbox.enqueue_now(
        session,
        CIS_PAYMENT_TOPIC,
        payment.id,
        payment_record(payment, office_code, bill_numbers={b: n for b, _, n in plan}),
        office_id=payment.office_id,
    )


def _insert_rows(session: Session, payment: Payment) -> None:
    """Write a new payment with its tender lines and allocations, then put it in the session
    as if just loaded: reading it (lines and allocations included) costs no query, and a
    later change (a void) flushes as an UPDATE like any loaded payment's. The lines and
    allocations are never changed after they are written: they stay out of the session."""
    values = payment.__dict__  # every column, set by _new_payment and _complete_new
    _INSERT_PAYMENT.run(session, values)
    for line in values["tenders"]:
        (line.__dict__["id"],) = _INSERT_TENDER.one(
            session,
            {
                "payment_id": payment.id,
                "kind": line.kind,
                "amount_cents": line.amount_cents,
                "reference": line.reference,
                "bank": line.bank,
            },
        )
        line.__dict__["payment"] = payment
        make_transient_to_detached(line)
    for allocation in values["allocations"]:
        (allocation.__dict__["id"],) = _INSERT_ALLOCATION.one(
            session,
            {
                "payment_id": payment.id,
                "bill_id": allocation.bill_id,
                "amount_cents": allocation.amount_cents,
            },
        )
        allocation.__dict__["payment"] = payment
        make_transient_to_detached(allocation)
    collections = {name: values.pop(name) for name in ("tenders", "allocations")}
    make_transient_to_detached(payment)
    # Joined before its collections are set, so the session does not walk them.
    session.add(payment)
    for name, items in collections.items():
        set_committed_value(payment, name, items)
    set_committed_value(payment, "refunds", [])


def _succeed(
    session: Session,
    payment: Payment,
    *,
    actor: str,
    now: dt.datetime | None,
    details: dict | None = None,
) -> None:
    """Complete a payment already in the session (a card payment): allocation, receipt
    number, status, event and CIS message."""
    states.check(payment, S.SUCCEEDED)
    now = now or utcnow()
    bill_numbers = _allocate(session, payment)
    office_code = _give_receipt_number(session, payment, now)
    session.add(payment)
    states.transition(
        session,
        payment,
        S.SUCCEEDED,
        actor=actor,
        details={"receipt": payment.receipt_number, **(details or {})},
    )
    events.publish(session, events.PAYMENT_SUCCEEDED, payment)
    outbox.enqueue_now(
        session,
        CIS_PAYMENT_TOPIC,
        payment.id,
        payment_record(payment, office_code, bill_numbers=bill_numbers),
        office_id=payment.office_id,
    )
    session.flush()


# -- card flow -----------------------------------------------------------------------------------


def card_tender(payment: Payment) -> TenderLine | None:
    return next((t for t in payment.tenders if t.kind == TenderKind.CARD), None)


def replace_intent(
    session: Session, payment: Payment, intent_id: str, *, actor: str, **why: object
) -> None:
    """The payment is settled by another of its processor attempts than the one it names:
    name that one (audited with the one it replaces)."""
    if payment.processor_intent_id in (None, intent_id):
        payment.processor_intent_id = intent_id
        return
    audit.record(
        session,
        "payment.intent_replaced",
        actor=actor,
        entity="payment",
        entity_id=payment.id,
        office_id=payment.office_id,
        details={"was": payment.processor_intent_id, "now": intent_id, **why},
    )
    payment.processor_intent_id = intent_id


def card_amount(payment: Payment) -> int | None:
    """What the processor should charge: the card tender plus any convenience fee."""
    tender = card_tender(payment)
    return None if tender is None else tender.amount_cents + (payment.fee_cents or 0)


def start_card(
    session: Session, payment: Payment, gateway: CardGateway, *, reader_id: str, actor: str
) -> Payment:
    """Hand the card part of a created payment to the station's reader."""
    tender = card_tender(payment)
    if tender is None:
        raise InvalidTransition(payment.status, S.AWAITING_CARD, "This payment has no card tender.")
    _serialize(session)
    states.transition(session, payment, S.AWAITING_CARD, actor=actor, details={"reader": reader_id})
    payment.reader_id = reader_id
    session.flush()
    request = CardRequest(
        payment_id=payment.id,
        amount_cents=tender.amount_cents,  # the card tender already includes any fee
        reader_id=reader_id,
        metadata={
            "payment_id": payment.id,
            "office_id": str(payment.office_id),
            "station_id": str(payment.station_id or ""),
            "account": payment.account_number,
        },
    )
    try:
        result = gateway.start(request)
    except GatewayError as exc:
        if exc.retryable:
            # The processor may or may not have the intent: cancel it there before the
            # customer is told the reader is offline; if even that fails, polling retries it.
            payment.failure_code, payment.failure_message = READER_OFFLINE, exc.message
            audit.record(
                session,
                "payment.reader_offline",
                actor=actor,
                entity="payment",
                entity_id=payment.id,
                office_id=payment.office_id,
                details={"code": exc.code, "reader": reader_id},
            )
            return _cancel_after_offline(session, payment, gateway, actor=actor)
        payment.failure_code, payment.failure_message = exc.code, exc.message
        states.transition(session, payment, S.FAILED, actor=actor, details={"code": exc.code})
        return payment
    return apply_card_result(session, payment, result, actor=actor)


READER_OFFLINE = "reader_offline"


def reader_offline(payment: Payment) -> bool:
    """The reader could not be reached when the card part started."""
    return payment.failure_code == READER_OFFLINE


def _cancel_after_offline(
    session: Session, payment: Payment, gateway: CardGateway, *, actor: str
) -> Payment:
    """Cancel at the processor a card attempt whose start failed. The payment ends canceled
    (``reader_offline``) only once the processor confirms nothing can be charged; if the
    card was approved meanwhile, it completes instead."""
    message = payment.failure_message
    try:
        result = gateway.cancel(payment.id, payment.processor_intent_id, payment.reader_id)
    except GatewayError:
        return payment  # still unknown: stays awaiting_card; the next poll or the sweep retries
    if result.status == CardStatus.SUCCEEDED:
        payment.failure_code = payment.failure_message = None
        return apply_card_result(session, payment, result, actor=actor)
    result = CardResult(
        CardStatus.CANCELED,
        intent_id=result.intent_id,
        failure_code=READER_OFFLINE,
        failure_message=message or "The card reader cannot be reached.",
    )
    return apply_card_result(session, payment, result, actor=actor)


def apply_card_result(
    session: Session,
    payment: Payment,
    result: CardResult,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> Payment:
    """Apply what the processor says about the card attempt. Idempotent: a result that was
    already applied changes nothing. A success for a payment we had already given up on is
    flagged for staff, never silently dropped."""
    _serialize(session)
    status = S(payment.status)
    if result.intent_id and not payment.processor_intent_id:
        payment.processor_intent_id = result.intent_id
    if result.status == CardStatus.SUCCEEDED:
        if status in states.COMPLETED or status == S.VOIDED:
            return payment
        if status in (S.FAILED, S.CANCELED):
            if not payment.needs_review:
                payment.needs_review = True
                audit.record(
                    session,
                    "payment.card_succeeded_after_close",
                    actor=actor,
                    entity="payment",
                    entity_id=payment.id,
                    office_id=payment.office_id,
                    details={"status": payment.status, "intent": result.intent_id},
                )
            return payment
        payment.card_brand = result.brand
        payment.card_last4 = result.last4
        payment.card_auth_code = result.auth_code
        payment.processor_charge_id = result.charge_id
        if status != S.PROCESSING:
            states.transition(session, payment, S.PROCESSING, actor=actor)
        _succeed(session, payment, actor=actor, now=now)
        return payment
    if status not in (S.AWAITING_CARD, S.PROCESSING):
        return payment
    if result.status == CardStatus.PENDING:
        if result.reader_status == "processing" and status == S.AWAITING_CARD:
            states.transition(session, payment, S.PROCESSING, actor=actor)
        return payment
    payment.failure_code = result.failure_code
    payment.failure_message = result.failure_message
    target = S.FAILED if result.status == CardStatus.FAILED else S.CANCELED
    states.transition(session, payment, target, actor=actor, details={"code": result.failure_code})
    return payment


def refresh_card(
    session: Session, payment: Payment, gateway: CardGateway, *, actor: str
) -> Payment:
    """Poll the processor for an attempt still in flight (fallback when no webhook came)."""
    if payment.status not in (S.AWAITING_CARD, S.PROCESSING):
        return payment
    if payment.failure_code == READER_OFFLINE and payment.status == S.AWAITING_CARD:
        return _cancel_after_offline(session, payment, gateway, actor=actor)
    try:
        if payment.processor_intent_id:
            result = gateway.poll(payment.id, payment.processor_intent_id, payment.reader_id)
        else:
            result = gateway.find(payment.id)
    except GatewayError:
        return payment
    if result is None:
        return payment
    return apply_card_result(session, payment, result, actor=actor)


def cancel_payment(
    session: Session, payment: Payment, gateway: CardGateway | None, *, actor: str
) -> Payment:
    """Cancel a payment that has not taken money. If the card was approved before the cancel
    reached the reader, the payment completes instead (the customer has paid)."""
    status = S(payment.status)
    if status == S.CANCELED:
        return payment
    _serialize(session)
    if status == S.CREATED:
        states.transition(session, payment, S.CANCELED, actor=actor)
        return payment
    if status not in (S.AWAITING_CARD, S.PROCESSING):
        raise InvalidTransition(status, S.CANCELED)
    if gateway is None:
        raise GatewayFailure("gateway_unavailable", "The card reader cannot be reached.")
    try:
        result = gateway.cancel(payment.id, payment.processor_intent_id, payment.reader_id)
    except GatewayError as exc:
        raise GatewayFailure("gateway_unavailable", exc.message) from exc
    if result.status == CardStatus.PENDING:
        result = CardResult(CardStatus.CANCELED, intent_id=result.intent_id)
    if result.status == CardStatus.CANCELED and not result.failure_code:
        result = CardResult(
            CardStatus.CANCELED,
            intent_id=result.intent_id,
            failure_code="canceled",
            failure_message="The payment was canceled.",
        )
    return apply_card_result(session, payment, result, actor=actor)


cancel_card = cancel_payment


# -- void and refund -----------------------------------------------------------------------------


def day_is_open(session: Session, payment: Payment, *, now: dt.datetime | None = None) -> bool:
    """True while the payment's business day is today's and has not been closed."""
    _, tz = _office(session, payment.office_id)
    if payment.business_date is None or payment.business_date != business_date(now, tz):
        return False
    day = session.scalars(
        select(BusinessDay).where(
            BusinessDay.office_id == payment.office_id,
            BusinessDay.business_date == payment.business_date,
        )
    ).first()
    return day is None or day.status in (DayStatus.OPEN, DayStatus.REOPENED)


def _require_supervisor(supervisor_id: int | None) -> None:
    if not supervisor_id:
        raise ValidationError("supervisor_required", "A supervisor must approve this.")


def void_payment(
    session: Session,
    payment: Payment,
    *,
    supervisor_id: int | None,
    actor: str,
    reason: str | None = None,
    gateway: CardGateway | None = None,
    now: dt.datetime | None = None,
) -> Payment:
    """Reverse a payment exactly on its own business day. It keeps its receipt number."""
    if payment.status == S.VOIDED:
        return payment
    _require_supervisor(supervisor_id)
    states.check(payment, S.VOIDED)
    _serialize(session)
    if not day_is_open(session, payment, now=now):
        raise Conflict(
            "day_closed", "This payment's business day is closed: give a refund instead."
        )
    days.ensure_day_open(session, payment.office_id, payment.business_date)
    if drawer.closed_drawer_of(session, payment) is not None:
        raise Conflict(
            "drawer_closed",
            "This payment's cash drawer is closed: a supervisor must reopen it first.",
        )
    tender = card_tender(payment)
    if tender is not None:
        if gateway is None:
            raise GatewayFailure("gateway_unavailable", "The card processor cannot be reached.")
        try:
            result = gateway.refund(
                payment.id,
                idempotency_key(payment.id, "void"),
                payment.processor_intent_id or "",
                tender.amount_cents,
            )
        except GatewayError as exc:
            raise GatewayFailure("gateway_unavailable", exc.message) from exc
        if result.status == "failed":
            raise GatewayFailure("card_reversal_failed", "The card processor refused the void.")
    reason = (reason or "").strip() or None
    payment.voided_at = now or utcnow()
    payment.voided_by_id = supervisor_id
    payment.void_reason = reason
    states.transition(session, payment, S.VOIDED, actor=actor, details={"reason": reason or ""})
    session.flush()
    events.publish(session, events.PAYMENT_VOIDED, payment)
    office_code, _ = _office(session, payment.office_id)
    outbox.enqueue(
        session,
        CIS_VOID_TOPIC,
        payment.id,
        void_record(payment, office_code, reason=reason),
        office_id=payment.office_id,
    )
    session.flush()
    return payment


def refund_for_key(session: Session, refund_key: str) -> Refund | None:
    """The refund an earlier request with this idempotency key made, if any: a resent request
    gets it back without being approved again."""
    return session.scalars(select(Refund).where(Refund.idempotency_key == refund_key)).first()


def refund_payment(
    session: Session,
    payment: Payment,
    *,
    amount_cents: int,
    supervisor_id: int | None,
    refund_key: str,
    actor: str,
    kind: str | None = None,
    reason: str | None = None,
    gateway: CardGateway | None = None,
    now: dt.datetime | None = None,
    station_id: int | None = None,
) -> Refund:
    """Give money back after the payment's business day closed: to the card through the
    gateway, or in cash from the drawer. Never more than was paid minus earlier refunds."""
    if not isinstance(refund_key, str) or not refund_key.strip():
        raise ValidationError("bad_idempotency_key", "An idempotency key is required.")
    _serialize(session)
    existing = refund_for_key(session, refund_key)
    if existing is not None:
        if existing.payment_id != payment.id or existing.amount_cents != amount_cents:
            raise Conflict(
                "idempotency_conflict", "This idempotency key was already used for another refund."
            )
        return existing
    _require_supervisor(supervisor_id)
    if not _is_cents(amount_cents) or amount_cents <= 0:
        raise ValidationError("bad_amount", "The refund must be a whole number of cents above 0.")
    if payment.status not in (S.SUCCEEDED, S.PARTIALLY_REFUNDED):
        raise InvalidTransition(payment.status, S.REFUNDED)
    if day_is_open(session, payment, now=now):
        raise Conflict("void_instead", "The business day is still open: void the payment instead.")
    refundable = payment.amount_cents - payment.refunded_cents
    if amount_cents > refundable:
        raise ValidationError(
            "refund_exceeds_paid",
            f"At most {format_amount(refundable)} can still be refunded.",
            refundable_cents=refundable,
        )
    tender = card_tender(payment)
    kind = kind or (TenderKind.CARD.value if tender is not None else TenderKind.CASH.value)
    if kind not in (TenderKind.CARD, TenderKind.CASH, TenderKind.CHECK):
        raise ValidationError("bad_refund_kind", "A refund goes back by card, cash or check.")
    refund = Refund(
        payment_id=payment.id,
        kind=kind,
        amount_cents=amount_cents,
        status="succeeded",
        reason=(reason or "").strip() or None,
        # A refund given while today is already closed goes into the next open day.
        business_date=days.next_open_date(
            session, payment.office_id, business_date(now, _office(session, payment.office_id)[1])
        ),
        approved_by_id=supervisor_id,
        idempotency_key=refund_key,
        created_at=now or utcnow(),
    )
    if kind == TenderKind.CASH and station_id is not None:
        # Cash paid back at a counter comes out of that station's open drawer.
        paying = drawer.open_drawer_at(session, station_id)
        if paying is None:
            raise Conflict("no_open_drawer", "Open a cash drawer at this station to refund cash.")
        refund.drawer_session_id = paying.id
    if kind == TenderKind.CARD:
        card_refunded = sum(r.amount_cents for r in payment.refunds if r.kind == TenderKind.CARD)
        if tender is None or amount_cents > tender.amount_cents - card_refunded:
            raise ValidationError(
                "refund_exceeds_card",
                "That is more than was paid by card; refund the rest in cash.",
            )
        if gateway is None:
            raise GatewayFailure("gateway_unavailable", "The card processor cannot be reached.")
        try:
            result = gateway.refund(
                payment.id,
                idempotency_key(payment.id, f"refund:{refund_key}"),
                payment.processor_intent_id or "",
                amount_cents,
            )
        except GatewayError as exc:
            raise GatewayFailure("gateway_unavailable", exc.message) from exc
        if result.status == "failed":
            raise GatewayFailure("card_refund_failed", "The card processor refused the refund.")
        refund.processor_refund_id, refund.status = result.refund_id, result.status
    payment.refunds.append(refund)
    payment.refunded_cents += amount_cents
    target = S.REFUNDED if payment.refunded_cents == payment.amount_cents else S.PARTIALLY_REFUNDED
    states.transition(
        session,
        payment,
        target,
        actor=actor,
        details={"refund_cents": amount_cents, "kind": kind, "reason": refund.reason or ""},
    )
    session.flush()
    events.publish(session, events.PAYMENT_REFUNDED, payment, refund=refund)
    office_code, _ = _office(session, payment.office_id)
    outbox.enqueue(
        session,
        CIS_REFUND_TOPIC,
        refund.id,
        refund_record(refund, office_code),
        office_id=payment.office_id,
    )
    session.flush()
    return refund
