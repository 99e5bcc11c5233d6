"""The customer kiosk flow (a paired kiosk device only).

The visit lives in the server session: language, visit id, the account found, the amount
chosen. ``/kiosk/end`` (a "Finish" touch or the idle timeout) ends the visit and wipes it.
Pages are no-store and the scripts navigate with ``location.replace``, so nothing personal
stays in the page or in the browser history.
"""

from __future__ import annotations

import re
import secrets
from functools import wraps
from urllib.parse import urlsplit

from babel.dates import get_day_names
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from hardware import scanline
from hardware.devices import PrinterStatus
from kiosk import accounts, content, db, ratelimit, receipting
from kiosk import queue as queue_service
from kiosk import service_requests as sr
from kiosk import visits as visit_service
from kiosk.access import access
from kiosk.accounts import mask_name, past_due_owed
from kiosk.auth import current_station
from kiosk.i18n import LANGUAGES, current_language
from kiosk.models import Account, Bill, QueueTicket, Visit
from kiosk.security import current_principal
from payments.db import business_date
from payments.money import AmountError, format_amount, parse_amount
from payments.rules import PaymentRules

bp = Blueprint("customer", __name__)

STREET = re.compile(r"^[A-Z0-9 ]{1,40}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


# ---------------------------------------------------------------- helpers


def _session_db():
    return db.session()


def _visit(create: bool = True) -> Visit | None:
    """The current visit, started on first need."""
    s = _session_db()
    visit_id = session.get("visit_id")
    visit = s.get(Visit, visit_id) if visit_id else None
    if visit is not None and visit.ended_at is None:
        return visit
    if not create:
        return None
    station = current_station()
    visit = visit_service.start_visit(
        s, office_id=station.office_id, station_id=station.id, language=current_language()
    )
    session["visit_id"] = visit.id
    return visit


def _note(**kw) -> None:
    visit_service.note(_visit(), **kw)


def _account() -> Account | None:
    number = session.get("account")
    if not number:
        return None
    return _session_db().scalar(select(Account).where(Account.number == number))


def needs_account(view):
    """Screens about one account: without one, go and find it first."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if _account() is None:
            session["after_find"] = request.endpoint
            return redirect(url_for("customer.find"))
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/kiosk") and not urlsplit(target).netloc:
        return target
    return url_for("customer.start")


def _rules() -> PaymentRules:
    return PaymentRules.from_settings(current_app.config)


def money(cents: int) -> str:
    return format_amount(cents, current_language())


def _lookup_allowed() -> bool:
    """Account lookups are rate-limited per kiosk, so the lobby cannot list the city."""
    decision = ratelimit.hit_lookup(
        _session_db(), current_principal(), current_app.config["LOOKUP_RATE_PER_MINUTE"]
    )
    _session_db().commit()
    return decision.allowed


def _too_many_lookups() -> str:
    return _("Too many searches on this kiosk. Please wait a minute, or see a person.")


def weekday(day: str, in_sentence: bool = False) -> str:
    """A pickup day in the visitor's language ("Tuesday", "martes", "Thứ Ba")."""
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    if day not in names:
        return day
    label = get_day_names("wide", locale=current_language())[names.index(day)]
    if in_sentence and current_language() == "es":
        return label.lower()
    return label[:1].upper() + label[1:]


def _found(account: Account):
    """An account was found: remember it for this visit and go where the visitor was going."""
    session["account"] = account.number
    session.pop("matches", None)
    session.pop("house", None)
    _note(account_id=account.id)
    _session_db().commit()
    target = session.pop("after_find", None)
    if target in ("customer.service", "customer.pickup_day"):
        return redirect(url_for(target))
    return redirect(url_for("customer.account"))


def _scan_error(code: str) -> str:
    if code == "bad_check_digit":
        return _(
            "We could not read that barcode correctly. Please scan it again, or type your "
            "account number."
        )
    return _("That does not look like the barcode on your bill. Please try again.")


@bp.app_template_filter("money")
def _money_filter(cents: int) -> str:
    return money(cents)


@bp.context_processor
def _kiosk_context():
    return {
        "idle_seconds": current_app.config["KIOSK_IDLE_SECONDS"],
        "idle_warning_seconds": current_app.config["KIOSK_IDLE_WARNING_SECONDS"],
        "big_text": bool(session.get("big")),
        "weekday": weekday,
    }


@bp.errorhandler(400)
@bp.errorhandler(404)
def _kiosk_error(err):
    """On the kiosk an error is a kiosk screen in the visitor's language with a way on (an
    expired form included), not the staff error page."""
    if err.code == 404:
        title = _("This screen is not available.")
        text = _("Please go back to the main menu and try again.")
    else:
        title = _("The form expired.")
        text = _("Nothing was changed. Please go back to the main menu and try again.")
    return render_template("customer/error.html", title=title, text=text), err.code


# ---------------------------------------------------------------- start, language, end


@bp.route("/")
@access("kiosk")
def start():
    return render_template("customer/start.html")


@bp.route("/begin", methods=["POST"])
@access("kiosk")
def begin():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
    _visit()
    _session_db().commit()
    return redirect(url_for("customer.menu"))


@bp.route("/language", methods=["POST"])
@access("kiosk")
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        visit = _visit(create=False)
        if visit is not None:
            visit.language = lang
            _session_db().commit()
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/display", methods=["POST"])
@access("kiosk")
def display():
    """The large-text / high-contrast switch."""
    session["big"] = not session.get("big")
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/end", methods=["POST"])
@access("kiosk")
def end():
    """Finish (or idle timeout): end the visit, forget everything, back to the start."""
    visit = _visit(create=False)
    if visit is not None:
        outcome = "timed_out" if request.form.get("reason") == "idle" else "abandoned"
        visit_service.end_visit(_session_db(), visit, outcome=outcome)
        _session_db().commit()
    session.clear()
    return redirect(url_for("customer.start"))


@bp.route("/menu")
@access("kiosk")
def menu():
    _visit()
    _session_db().commit()
    return render_template("customer/menu.html", account=_account())


# ---------------------------------------------------------------- find my account


@bp.route("/find")
@access("kiosk")
def find():
    if request.args.get("then") == "pickup-day":
        session["after_find"] = "customer.pickup_day"
    _visit()
    _session_db().commit()
    return render_template("customer/find.html")


@bp.route("/scan", methods=["POST"])
@access("kiosk")
def scan():
    """The bill's barcode, typed by the scanner (from any screen of the flow)."""
    if not session.get("lang"):
        session["lang"] = current_language()
    _visit()
    if not _lookup_allowed():
        flash(_too_many_lookups(), "error")
        return redirect(url_for("customer.find"))
    try:
        line = scanline.parse(request.form.get("code", ""))
    except scanline.ScanlineError as exc:
        _session_db().commit()
        flash(_scan_error(exc.code), "error")
        return redirect(url_for("customer.find"))
    account = _session_db().scalar(select(Account).where(Account.number == line.account_number))
    if account is None:
        _session_db().commit()
        return redirect(url_for("customer.not_found"))
    if not session.get("after_find"):
        _note(reason="billing.pay_bill")
    return _found(account)


@bp.route("/find/number", methods=["GET", "POST"])
@access("kiosk")
def find_number():
    error = None
    value = ""
    if request.method == "POST":
        value = "".join(ch for ch in request.form.get("number", "") if not ch.isspace())
        if scanline.looks_like_scanline(value):
            return scan()
        if not value.isdigit() or not 4 <= len(value) <= 10:
            error = _("An account number has 4 to 10 digits. Please check and try again.")
        elif not _lookup_allowed():
            error = _too_many_lookups()
        else:
            account = _session_db().scalar(select(Account).where(Account.number == value))
            if account is None:
                return redirect(url_for("customer.not_found"))
            return _found(account)
    return render_template("customer/find_number.html", error=error, value=value), (
        400 if error else 200
    )


@bp.route("/find/address", methods=["GET", "POST"])
@access("kiosk")
def find_address():
    error = None
    house = ""
    if request.method == "POST":
        house = request.form.get("house", "").strip()
        if not house.isdigit() or not 1 <= len(house) <= 6:
            error = _("Enter the house number using the number keys.")
        else:
            session["house"] = int(house)
            return redirect(url_for("customer.find_street"))
    return render_template("customer/find_address.html", error=error, value=house[:6]), (
        400 if error else 200
    )


@bp.route("/find/street", methods=["GET", "POST"])
@access("kiosk")
def find_street():
    house = session.get("house")
    if house is None:
        return redirect(url_for("customer.find_address"))
    error = None
    street = ""
    if request.method == "POST":
        street = " ".join(request.form.get("street", "").upper().split())
        if not street or not STREET.match(street):
            error = _("Enter the first letters of your street name.")
        elif not _lookup_allowed():
            error = _too_many_lookups()
        else:
            try:
                result = accounts.find_accounts(_session_db(), f"{house} {street}", limit=5)
            except accounts.AccountLookupError:
                result = None
            _session_db().commit()
            if result is None or not result.accounts:
                return redirect(url_for("customer.not_found"))
            if result.truncated:
                return redirect(url_for("customer.not_found", many=1))
            session["matches"] = [a.number for a in result.accounts]
            return redirect(url_for("customer.find_results"))
    return render_template(
        "customer/find_street.html", house=house, error=error, value=street[:40]
    ), (400 if error else 200)


@bp.route("/find/results")
@access("kiosk")
def find_results():
    numbers = session.get("matches") or []
    if not numbers:
        return redirect(url_for("customer.find_address"))
    accounts = list(_session_db().scalars(select(Account).where(Account.number.in_(numbers))))
    accounts.sort(key=lambda a: numbers.index(a.number))
    rows = [(i, a.service_address, mask_name(a.name)) for i, a in enumerate(accounts)]
    return render_template("customer/find_results.html", rows=rows)


@bp.route("/find/choose", methods=["POST"])
@access("kiosk")
def find_choose():
    numbers = session.get("matches") or []
    index = request.form.get("index", "")
    if not index.isdigit() or int(index) >= len(numbers):
        return redirect(url_for("customer.find_address"))
    account = _session_db().scalar(select(Account).where(Account.number == numbers[int(index)]))
    if account is None:
        return redirect(url_for("customer.not_found"))
    return _found(account)


@bp.route("/find/not-found")
@access("kiosk")
def not_found():
    many = request.args.get("many") == "1"
    return render_template("customer/not_found.html", many=many)


# ---------------------------------------------------------------- my account, amount


def _open_bills(account: Account) -> list[Bill]:
    return [b for b in account.bills if b.open_cents > 0]


@bp.route("/account")
@access("kiosk")
@needs_account
def account():
    acct = _account()
    bills = _open_bills(acct)
    # The newest bill's due date: an older, late bill shows as past due, not as "the" date.
    due = bills[-1].due_date if bills else None
    today = business_date()
    past_due = past_due_owed(acct.past_due_cents, acct.balance_cents)
    return render_template(
        "customer/account.html",
        account=acct,
        due_date=format_date(due, format="long") if due else None,
        bills=[
            {
                "period": _(
                    "%(start)s to %(end)s",
                    start=format_date(b.period_start, "medium"),
                    end=format_date(b.period_end, "medium"),
                ),
                "due": format_date(b.due_date, format="medium"),
                "late": b.due_date < today,
                "open_cents": b.open_cents,
            }
            for b in bills
        ],
        last_payment_date=(
            format_date(acct.last_payment_date, format="long") if acct.last_payment_date else None
        ),
        fee_cents=_rules().card_fee_cents,
        masked_name=mask_name(acct.name),
        past_due_cents=past_due,
        can_pay_ahead=_rules().allow_overpayment,
    )


def _amount_error(exc: AmountError, limits) -> str:
    if exc.code in ("not_positive",):
        return _("The amount must be more than zero.")
    if exc.code == "below_minimum":
        return _("The smallest payment here is %(amount)s.", amount=money(limits.minimum))
    if exc.code == "above_maximum":
        return _(
            "The largest payment at the kiosk is %(amount)s. For more, please see a person "
            "at the counter.",
            amount=money(limits.maximum),
        )
    return _("Please enter an amount using the number keys, for example 25.00.")


def _check_amount(acct: Account, text: str) -> int:
    """Parse and check an amount; AmountError carries a translated message."""
    limits = _rules().limits_for("kiosk")
    try:
        cents = limits.check(parse_amount(text))
    except AmountError as exc:
        raise AmountError(exc.code, _amount_error(exc, limits)) from exc
    if cents > max(acct.balance_cents, 0) and not _rules().allow_overpayment:
        if acct.balance_cents <= 0:
            raise AmountError("above_balance", _("You owe nothing right now."))
        raise AmountError(
            "above_balance",
            _("You can pay up to the amount due, %(amount)s.", amount=money(acct.balance_cents)),
        )
    return cents


@bp.route("/account/amount", methods=["GET", "POST"])
@access("kiosk")
@needs_account
def other_amount():
    acct = _account()
    error = None
    value = ""
    if request.method == "POST":
        value = request.form.get("amount", "")
        try:
            cents = _check_amount(acct, value)
        except AmountError as exc:
            error = exc.message
        else:
            return _start_pay(cents)
    limits = _rules().limits_for("kiosk")
    return render_template(
        "customer/amount.html",
        account=acct,
        error=error,
        value=value.strip()[:12],
        minimum=limits.minimum,
        maximum=limits.maximum,
        fee_cents=_rules().card_fee_cents,
    ), (400 if error else 200)


@bp.route("/pay/due", methods=["POST"])
@access("kiosk")
@needs_account
def pay_due():
    acct = _account()
    if acct.balance_cents <= 0:
        return redirect(url_for("customer.other_amount"))
    try:
        cents = _check_amount(acct, f"{acct.balance_cents // 100}.{acct.balance_cents % 100:02d}")
    except AmountError as exc:
        flash(exc.message, "error")
        return redirect(url_for("customer.other_amount"))
    return _start_pay(cents)


def _start_pay(cents: int):
    session["pay"] = {"amount": cents, "key": secrets.token_hex(16)}
    _note(reason="billing.pay_bill")
    _session_db().commit()
    if not _printer_can_print():
        return redirect(url_for("customer.pay_printer"))
    return redirect(url_for("customer.pay"))


def _printer_can_print() -> bool:
    """The kiosk's printer before the card prompt: only a known fault (paper out, cover open,
    offline) counts; ``unknown`` and the preview printer are taken as able to print."""
    status = receipting.station_printer_status(current_station())
    return status.can_print or status == PrinterStatus.UNKNOWN


@bp.route("/pay/printer")
@access("kiosk")
@needs_account
def pay_printer():
    """The printer cannot print: offer the emailed receipt or to go on without paper."""
    if not session.get("pay"):
        return redirect(url_for("customer.account"))
    return render_template("customer/printer.html", amount=session["pay"]["amount"])


@bp.route("/pay/no-paper", methods=["POST"])
@access("kiosk")
@needs_account
def pay_no_paper():
    pay = session.get("pay")
    if not pay:
        return redirect(url_for("customer.account"))
    session["pay"] = {**pay, "no_paper": True}
    return redirect(url_for("customer.pay"))


@bp.route("/pay/email", methods=["GET", "POST"])
@access("kiosk")
@needs_account
def pay_email():
    """The emailed receipt chosen before paying (the printer is down): no paper is printed."""
    pay = session.get("pay")
    if not pay:
        return redirect(url_for("customer.account"))
    error = None
    address = ""
    if request.method == "POST":
        address = request.form.get("email", "").strip()
        if not EMAIL.match(address) or len(address) > 254:
            error = _("That email address does not look complete. Please check it.")
        else:
            session["pay"] = {**pay, "email": address, "no_paper": True}
            return redirect(url_for("customer.pay"))
    return render_template("customer/pay_email.html", error=error, value=address[:254]), (
        400 if error else 200
    )


# ---------------------------------------------------------------- pay


@bp.route("/pay")
@access("kiosk")
@needs_account
def pay():
    pay = session.get("pay")
    if not pay:
        return redirect(url_for("customer.account"))
    fee = _rules().card_fee_cents
    return render_template(
        "customer/pay.html",
        account=_account(),
        amount=pay["amount"],
        fee_cents=fee,
        idempotency_key=pay["key"],
        poll_ms=current_app.config["KIOSK_PAY_POLL_MS"],
        email=pay.get("email", ""),
        confirm_duplicate=pay.get("confirm_duplicate", False),
    )


@bp.route("/pay/retry", methods=["POST"])
@access("kiosk")
@needs_account
def pay_retry():
    """Declined or canceled: try again (a new payment with a new idempotency key). With
    ``confirm_duplicate``, the visitor chose to pay again although the account was just paid."""
    pay = session.get("pay")
    if not pay:
        return redirect(url_for("customer.account"))
    confirm = request.form.get("confirm_duplicate") == "1"
    if not confirm:
        _note(outcome="payment_declined")
        _session_db().commit()
    session["pay"] = {
        **pay,
        "key": secrets.token_hex(16),
        "confirm_duplicate": confirm or pay.get("confirm_duplicate", False),
    }
    return redirect(url_for("customer.pay"))


@bp.route("/pay/cancel", methods=["POST"])
@access("kiosk")
@needs_account
def pay_cancel():
    payment = _cancel_target(request.form.get("payment_id", ""))
    if payment is not None and payment.status == "succeeded":
        # The card went through before the cancel reached the reader: the payment stands.
        return redirect(url_for("customer.paid", payment_id=payment.id))
    session.pop("pay", None)
    _note(outcome="payment_canceled")
    _session_db().commit()
    if payment is not None and payment.status not in ("canceled", "failed"):
        flash(
            _(
                "We could not confirm with the card reader that the payment stopped. If your "
                "card was charged, the payment counts and you will get a receipt. Staff at the "
                "counter can check it for you."
            ),
            "info",
        )
    else:
        flash(_("The payment was canceled. Your card was not charged."), "info")
    return redirect(url_for("customer.account"))


def _cancel_target(payment_id: str):
    """The visit's own payment being canceled, if the page knew its id."""
    if not payment_id or len(payment_id) > 32:
        return None
    try:
        return _own_payment(payment_id)
    except NotFound:
        return None


def _own_payment(payment_id: str):
    from payments.models import Payment

    payment = _session_db().get(Payment, payment_id)
    station = current_station()
    if (
        payment is None
        or payment.station_id != station.id
        or payment.account_number != session.get("account")
    ):
        abort(404)
    return payment


@bp.route("/paid/<payment_id>")
@access("kiosk")
@needs_account
def paid(payment_id: str):
    payment = _own_payment(payment_id)
    if payment.status != "succeeded":
        return redirect(url_for("customer.pay"))
    pay = session.pop("pay", None) or {}
    if pay.get("no_paper"):
        session["no_paper"] = payment.id
    _note(outcome="paid")
    _session_db().commit()
    return render_template(
        "customer/paid.html",
        payment=payment,
        no_paper=session.get("no_paper") == payment.id,
        email_masked=_mask_email(payment.email) if payment.email else None,
    )


def _mask_email(address: str) -> str:
    local, _at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


@bp.route("/paid/<payment_id>/email", methods=["GET", "POST"])
@access("kiosk")
@needs_account
def email_receipt(payment_id: str):
    payment = _own_payment(payment_id)
    if payment.status != "succeeded":
        return redirect(url_for("customer.pay"))
    error = None
    sent_to = None
    address = ""
    if request.method == "POST":
        address = request.form.get("email", "").strip()
        if not EMAIL.match(address) or len(address) > 254:
            error = _("That email address does not look complete. Please check it.")
        else:
            _send_email_receipt(payment, address)
            _session_db().commit()
            sent_to = _mask_email(address)
    return render_template(
        "customer/email.html",
        payment=payment,
        error=error,
        sent_to=sent_to,
        value=address[:254] if error else "",
    ), (400 if error else 200)


def _send_email_receipt(payment, address: str) -> None:
    """Queue the emailed receipt (delivered by the outbox worker); once per payment."""
    if payment.email:
        return
    payment.email = address
    receipting.enqueue_receipt(_session_db(), payment, copies=0, email=address)


# ---------------------------------------------------------------- questions


@bp.route("/questions")
@access("kiosk")
def questions():
    topics = content.topics(current_language())
    return render_template("customer/questions.html", topics=topics)


@bp.route("/questions/<topic>")
@access("kiosk")
def question(topic: str):
    answer = content.answer(topic, current_language())
    if answer is None:
        abort(404)
    _note(reason=answer.reason_code, outcome="answered")
    _session_db().commit()
    acct = _account()
    return render_template("customer/question.html", answer=answer, account=acct)


@bp.route("/questions/my-pickup-day")
@access("kiosk")
@needs_account
def pickup_day():
    answer = content.answer("pickup-day", current_language())
    _note(reason=answer.reason_code, outcome="answered")
    _session_db().commit()
    return render_template("customer/question.html", answer=answer, account=_account())


# ---------------------------------------------------------------- service requests


@bp.route("/service")
@access("kiosk")
@needs_account
def service():
    return render_template("customer/service.html", kinds=list(sr.KINDS))


@bp.route("/service/<kind>", methods=["GET", "POST"])
@access("kiosk")
@needs_account
def service_details(kind: str):
    if kind not in sr.KINDS:
        abort(404)
    error = None
    if request.method == "POST":
        details = {field: request.form.get(field, "") for field in sr.KINDS[kind]}
        acct = _account()
        station = current_station()
        try:
            created = sr.create_request(
                _session_db(),
                office_id=station.office_id,
                account=acct,
                kind=kind,
                details=details,
                language=current_language(),
            )
        except sr.ServiceRequestError:
            _session_db().rollback()
            error = _("Please choose one answer for each question.")
        else:
            receipting.enqueue_service_request(_session_db(), created, station)
            _note(reason=sr.REASON_CODES[kind], outcome="request_created")
            _session_db().commit()
            return redirect(url_for("customer.service_done", reference=created.reference))
    return render_template(
        "customer/service_details.html",
        kind=kind,
        fields=sr.KINDS[kind],
        error=error,
        account=_account(),
    ), (400 if error else 200)


@bp.route("/service/done/<reference>")
@access("kiosk")
def service_done(reference: str):
    try:
        status = sr.status_of(_session_db(), reference)
    except sr.ServiceRequestError:
        abort(404)
    return render_template(
        "customer/service_done.html",
        status=status,
        reference=sr.format_reference(status.reference),
    )


@bp.route("/status", methods=["GET", "POST"])
@access("kiosk")
def status_lookup():
    error = None
    typed = ""
    if request.method == "POST":
        typed = (request.form.get("reference") or "").strip()[:12]
        ref = sr.normalize_reference(request.form.get("reference"))
        try:
            sr.status_of(_session_db(), ref)
        except sr.ServiceRequestError as exc:
            if exc.code == "not_found":
                error = _("We found no request with that number. Please check the number.")
            else:
                error = _("A reference number has 8 digits.")
        else:
            _note(reason="service.request_status", outcome="status_given")
            _session_db().commit()
            return redirect(url_for("customer.status_result", reference=ref))
    return render_template("customer/status.html", error=error, value=typed), (
        400 if error else 200
    )


@bp.route("/status/<reference>")
@access("kiosk")
def status_result(reference: str):
    try:
        status = sr.status_of(_session_db(), reference)
    except sr.ServiceRequestError:
        abort(404)
    return render_template(
        "customer/status_result.html",
        status=status,
        reference=sr.format_reference(status.reference),
        scheduled=format_date(status.scheduled_for, format="long")
        if status.scheduled_for
        else None,
    )


# ---------------------------------------------------------------- queue ticket


@bp.route("/ticket", methods=["GET", "POST"])
@access("kiosk")
def ticket():
    if request.method == "POST":
        service_name = request.form.get("service", "")
        if service_name not in queue_service.SERVICES:
            flash(_("Please choose what you need help with."), "error")
            return redirect(url_for("customer.ticket"))
        station = current_station()
        acct = _account()
        issued = queue_service.issue_ticket(
            _session_db(),
            office_id=station.office_id,
            service=service_name,
            language=current_language(),
            account_id=acct.id if acct else None,
            station_id=station.id,
            minutes_per_customer=current_app.config["QUEUE_MINUTES_PER_CUSTOMER"],
        )
        receipting.enqueue_ticket(_session_db(), issued.ticket, issued.estimated_wait_minutes)
        _note(
            reason=queue_service.SERVICES[service_name][1],
            outcome="ticket_issued",
            ticket_id=issued.ticket.id,
        )
        _session_db().commit()
        session["ticket"] = {"id": issued.ticket.id, "wait": issued.estimated_wait_minutes}
        return redirect(url_for("customer.ticket_done"))
    return render_template("customer/ticket.html", services=list(queue_service.SERVICES))


@bp.route("/ticket/done")
@access("kiosk")
def ticket_done():
    info = session.get("ticket")
    issued = _session_db().get(QueueTicket, info["id"]) if info else None
    if issued is None:
        return redirect(url_for("customer.ticket"))
    return render_template("customer/ticket_done.html", ticket=issued, wait=info["wait"])
