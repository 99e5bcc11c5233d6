"""Finance: the day's deposit slip (prepare, verify by a second person, PDF) and the daily
posting batches to the CIS with their acknowledgments. Finance role only; every change is
audited by the domain (payments.deposit, payments.posting_batch)."""

from __future__ import annotations

import datetime as dt
import re

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from kiosk import db
from kiosk.access import access
from kiosk.auth import LOGIN_MAX_FAILURES_PER_ADDRESS, RATE_WINDOW
from kiosk.models import StaffUser
from kiosk.reports.deposit_pdf import SlipPeople, denomination_name, deposit_slip_pdf
from kiosk.security import client_address, rate_limit_count, rate_limit_hit
from kiosk.staff import LoginPolicy, StaffError, authenticate
from kiosk.views.finance_common import PageError, finance_office, me, page_day
from payments import deposit as deposits
from payments import posting_batch
from payments.db import business_date, utcnow
from payments.models import DENOMINATIONS
from payments.money import format_amount
from payments.states import PaymentError

bp = Blueprint("finance_deposit", __name__)


def _names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = db.session().execute(
        select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids))
    )
    return dict(rows.all())


_DENOMINATION = re.compile(r"\b(?:bill|coin)_\d+\b")


def _readable(message: str | None) -> str | None:
    """The domain's message with denomination keys as people say them ("$20 bills")."""
    if not message:
        return message
    return _DENOMINATION.sub(lambda m: denomination_name(m.group(0)), message)


def _deposit_page(day: dt.date, *, error: str | None = None, status: int = 200, form=None):
    session = db.session()
    office = finance_office()
    current = deposits.current_deposit(session, office.id, day)
    history = deposits.versions(session, office.id, day)
    preview, preview_problem, float_needed = None, None, False
    if current is None:
        try:
            preview = deposits.figures(session, office.id, day)
        except deposits.DepositError as exc:
            preview_problem = _readable(exc.message)
            float_needed = exc.code == "float_retained_required"
    names = _names({d.prepared_by_id for d in history} | {d.verified_by_id for d in history})
    return (
        render_template(
            "finance/deposit.html",
            office=office,
            day=day,
            today=business_date(),
            deposit=current,
            slip=deposits.as_dict(current) if current is not None else None,
            history=history,
            names=names,
            preview=preview,
            preview_problem=preview_problem,
            denominations=list(DENOMINATIONS),
            denomination_name=denomination_name,
            money=format_amount,
            error=_readable(error),
            form=form or {},
            me=me(),
            # Open the float fields when they are needed or were typed in.
            float_open=float_needed or any((form or {}).get(f"float_{d}") for d in DENOMINATIONS),
        ),
        status,
    )


@bp.route("/deposit")
@access("finance")
def deposit_page():
    try:
        day = page_day(request.args.get("date"))
    except PageError as exc:
        return _deposit_page(business_date(), error=exc.message, status=400)
    return _deposit_page(day)


@bp.route("/deposit", methods=["POST"])
@access("finance")
def prepare():
    form = request.form
    try:
        day = page_day(form.get("date"))
    except PageError as exc:
        return _deposit_page(business_date(), error=exc.message, status=400, form=form)
    session = db.session()
    try:
        office = finance_office()
        record = deposits.prepare_deposit(
            session,
            office.id,
            day,
            bag_number=form.get("bag_number", ""),
            prepared_by_id=me(),
            actor=current_user.username,
            float_retained=deposits.retained_from_form(form),
            amend_reason=form.get("amend_reason") or None,
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return _deposit_page(day, error=exc.message, status=exc.status, form=form)
    flash(
        f"Deposit of {day.isoformat()} prepared (bag {record.bag_number}, "
        f"{format_amount(record.total_cents)}). A second person must verify it."
    )
    return redirect(url_for("finance_deposit.deposit_page", date=day.isoformat()))


@bp.route("/deposit/<int:deposit_id>/verify", methods=["POST"])
@access("finance")
def verify(deposit_id: int):
    """The second person either is the signed-in user or re-enters their own credentials."""
    session = db.session()
    try:
        record = deposits.get_deposit(session, deposit_id)
    except deposits.DepositNotFound as exc:
        return _deposit_page(business_date(), error=exc.message, status=404)
    day = record.business_date
    username = (request.form.get("username") or "").strip()
    if username:
        # Typed credentials are a sign-in: the same per-address limit on failures applies.
        address_key = f"login:{client_address()}"
        limit = int(
            current_app.config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", LOGIN_MAX_FAILURES_PER_ADDRESS)
        )
        if rate_limit_count(session, address_key) >= limit:
            return _deposit_page(
                day, error="Too many failed sign-ins from this device. Wait 15 minutes.", status=429
            )
        policy = LoginPolicy(
            max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            lockout=dt.timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]),
        )
        try:
            verifier = authenticate(
                session,
                username,
                request.form.get("password") or "",
                policy,
                source=f"deposit-verify:{client_address()}",
            )
        except StaffError as exc:
            rate_limit_hit(session, address_key, RATE_WINDOW)
            session.commit()  # keep the failure count and its audit entry
            return _deposit_page(day, error=f"Verification refused: {exc.message}", status=401)
        verifier_id, actor = verifier.id, verifier.username
    else:
        verifier_id, actor = me(), current_user.username
    try:
        office = finance_office()
        if record.office_id != office.id:
            raise deposits.DepositNotFound("deposit_not_found", "No deposit with that id.")
        deposits.verify_deposit(session, record, verified_by_id=verifier_id, actor=actor)
        session.commit()
    except PaymentError as exc:
        session.rollback()
        return _deposit_page(day, error=exc.message, status=exc.status)
    flash(f"Deposit of {day.isoformat()} (bag {record.bag_number}) verified.")
    return redirect(url_for("finance_deposit.deposit_page", date=day.isoformat()))


@bp.route("/deposit/<int:deposit_id>/slip.pdf")
@access("finance")
def slip_pdf(deposit_id: int):
    session = db.session()
    try:
        record = deposits.get_deposit(session, deposit_id)
        office = finance_office()
        if record.office_id != office.id:
            raise deposits.DepositNotFound("deposit_not_found", "No deposit with that id.")
    except PaymentError as exc:
        return _deposit_page(business_date(), error=exc.message, status=exc.status)
    names = _names({record.prepared_by_id, record.verified_by_id})
    people = SlipPeople(
        office.code,
        office.name,
        names.get(record.prepared_by_id, f"staff {record.prepared_by_id}"),
        names.get(record.verified_by_id) if record.verified_by_id else None,
    )
    data = deposit_slip_pdf(deposits.as_dict(record), people, generated_at=utcnow())
    name = f"deposit-{office.code}-{record.business_date.isoformat()}-v{record.version}.pdf"
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@bp.route("/postings")
@access("finance")
def postings():
    session = db.session()
    error, status = None, 200
    try:
        day = page_day(request.args.get("date"))
    except PageError as exc:
        day, error, status = business_date(), exc.message, 400
    office = finance_office()
    return (
        render_template(
            "finance/postings.html",
            office=office,
            day=day,
            today=business_date(),
            batches=posting_batch.batches_of(session, office.id, day),
            rejected=posting_batch.needing_attention(session, office.id),
            money=format_amount,
            error=error,
        ),
        status,
    )
