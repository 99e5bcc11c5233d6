"""Counter: find an account, the account page, take a payment, the payment page (receipt
preview, reprint, card status). Staff see unmasked data. The work is in
``kiosk.counter_desk`` and ``kiosk.accounts``; these views parse, call, commit, render."""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from kiosk import accounts, counter_desk, db, override, receipting
from kiosk.access import access
from kiosk.api.payments import card_gateway, payment_rules
from kiosk.models import StaffUser, Station
from kiosk.security import current_principal
from payments import service
from payments.money import format_amount, format_plain
from payments.states import COMPLETED, IN_FLIGHT, PaymentError
from receipts.text import render_text

bp = Blueprint("counter_accounts", __name__)

DRAWER_ENDPOINTS = ("counter_drawer.index", "counter_drawer.drawer", "counter_drawer.open_drawer")
SEARCH_LABELS = {
    "any": "Anything",
    "number": "Account number or bill",
    "name": "Name",
    "phone": "Phone",
    "address": "Address",
}


def _desk(session) -> counter_desk.Desk:
    principal = current_principal()
    user = session.get(StaffUser, principal.user_id)
    station = session.get(Station, principal.station_id) if principal.station_id else None
    office_id = station.office_id if station is not None else user.office_id
    if office_id is None:
        abort(403)
    return counter_desk.Desk(office_id=office_id, user=user, station=station)


def _endpoint_url(candidates, **values) -> str | None:
    endpoint = next((e for e in candidates if e in current_app.view_functions), None)
    return url_for(endpoint, **values) if endpoint else None


@bp.route("/accounts/")
@access("cashier", "supervisor")
def search():
    """Search by number, scanline (the scanner types digits + Enter), address, name, phone."""
    q = request.args.get("q", "")
    by = request.args.get("by", "any")
    result, error = None, None
    if q.strip() or "q" in request.args:
        session = db.session()
        try:
            result = accounts.search_accounts(session, q, by if by in SEARCH_LABELS else "any")
        except accounts.AccountLookupError as exc:
            error = exc.message
        if result is not None and len(result.accounts) == 1:
            found = result.accounts[0]
            bill = result.scanline.bill_number if result.scanline else None
            return redirect(url_for(".account", number=found.number, bill=bill or None), 303)
    rows = [accounts.summary_view(a, masked=False) for a in result.accounts] if result else []
    return render_template(
        "counter/account_search.html",
        q=q,
        by=by,
        labels=SEARCH_LABELS,
        result=result,
        rows=rows,
        error=error,
    ), (400 if error else 200)


def _render_account(session, number: str, form=None, error=None, status: int = 200):
    try:
        page = counter_desk.account_page(session, number)
    except accounts.AccountLookupError:
        page = None
    if page is None:
        return render_template(
            "counter/account_missing.html", number=number[:40], labels=SEARCH_LABELS
        ), 404
    account = page["account"]
    if form is None:
        bill = request.args.get("bill", "")
        chosen = next((b for b in account["open_bills"] if b["number"] == bill), None)
        amount = chosen["open_cents"] if chosen else max(account["balance_cents"], 0)
        form = counter_desk.PayForm(
            amount=format_plain(amount) if amount else "",
            bill=chosen["number"] if chosen else "",
            idempotency_key=uuid.uuid4().hex,
        )
    rules = payment_rules()
    return render_template(
        "counter/account.html",
        page=page,
        account=account,
        form=form,
        error=error,
        fee=rules.card_fee_cents,
        fee_text=format_amount(rules.card_fee_cents),
        drawer_url=_endpoint_url(DRAWER_ENDPOINTS),
        fmt=format_amount,
        labels=SEARCH_LABELS,
    ), status


@bp.route("/accounts/<number>")
@access("cashier", "supervisor")
def account(number: str):
    session = db.session()
    counter_desk.account_opened(session, current_principal().station_id, number)
    session.commit()
    return _render_account(session, number)


@bp.route("/accounts/<number>/pay", methods=["POST"])
@access("cashier", "supervisor")
def pay(number: str):
    session = db.session()
    form = counter_desk.PayForm.from_mapping(request.form)
    desk = _desk(session)
    try:
        payment = counter_desk.take_payment(
            session,
            desk,
            number,
            form,
            payment_rules(),
            card_gateway(session),
            override_policy=override.policy_from(current_app.config),
            commit=session.commit,
        )
        session.commit()
    except counter_desk.PayError as exc:
        if exc.keep:
            session.commit()
        else:
            session.rollback()
        kept = counter_desk.PayForm(
            **{**form.__dict__, "supervisor_password": "", "confirm_duplicate": False}
        )
        status = 409 if exc.needs in ("confirm", "confirm_credit", "drawer") else 400
        return _render_account(session, number, form=kept, error=exc, status=status)
    except PaymentError as exc:  # from the card reader start, after the payment was saved
        session.rollback()
        flash(exc.message)
        return redirect(url_for(".account", number=number), 303)
    return redirect(url_for(".payment", payment_id=payment.id), 303)


def _visible_payment(session, payment_id: str, desk: counter_desk.Desk):
    if len(payment_id) > 32:
        abort(404)
    try:
        payment = service.get_payment(session, payment_id)
    except service.NotFound:
        abort(404)
    if payment.office_id != desk.office_id:
        abort(404)
    return payment


@bp.route("/payments/<payment_id>")
@access("cashier", "supervisor")
def payment(payment_id: str):
    """A payment: the card status while in flight, then receipt number, change, receipt."""
    session = db.session()
    desk = _desk(session)
    payment = _visible_payment(session, payment_id, desk)
    if request.args.get("check"):
        # Without scripts the cashier asks again by link; the page's script polls the API.
        counter_desk.refresh(session, payment, card_gateway(session), desk.user.username)
        session.commit()
    receipt = None
    if payment.receipt_number:
        receipt = render_text(receipting.receipt_document(session, payment))
    links = {}
    if payment.status in COMPLETED:
        # One of the two applies: a void on the payment's own open business day, a refund after.
        action = "void" if service.day_is_open(session, payment) else "refund"
        endpoint = f"counter_override.{action}"
        if endpoint in current_app.view_functions:
            links[action] = url_for(endpoint, payment_id=payment.id)
    return render_template(
        "counter/payment.html",
        payment=payment,
        row=counter_desk.payment_row(payment),
        in_flight=payment.status in IN_FLIGHT,
        receipt=receipt,
        links=links,
        fmt=format_amount,
        poll_ms=int(current_app.config.get("KIOSK_PAY_POLL_MS") or 1000),
    )


@bp.route("/payments/<payment_id>/reprint", methods=["POST"])
@access("cashier", "supervisor")
def reprint(payment_id: str):
    session = db.session()
    desk = _desk(session)
    payment = _visible_payment(session, payment_id, desk)
    if not payment.receipt_number:
        flash("This payment has no receipt yet.")
        return redirect(url_for(".payment", payment_id=payment.id), 303)
    receipting.reprint(
        session,
        payment,
        station_id=desk.station.id if desk.station else None,
        actor=desk.user.username,
    )
    session.commit()
    where = "the printer" if desk.station and desk.station.printer_url else "the on-screen preview"
    flash(f"Receipt {payment.receipt_number} sent to {where}, marked REPRINT.")
    return redirect(url_for(".payment", payment_id=payment.id), 303)


@bp.route("/payments/<payment_id>/cancel", methods=["POST"])
@access("cashier", "supervisor")
def cancel(payment_id: str):
    """Stop a card payment that has not taken money (the customer changed their mind)."""
    session = db.session()
    desk = _desk(session)
    payment = _visible_payment(session, payment_id, desk)
    gateway = card_gateway(session) if service.card_tender(payment) else None
    try:
        service.cancel_payment(session, payment, gateway, actor=desk.user.username)
        session.commit()
    except PaymentError as exc:
        session.rollback()
        flash(exc.message)
    return redirect(url_for(".payment", payment_id=payment_id), 303)
