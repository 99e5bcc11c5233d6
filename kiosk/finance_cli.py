"""``payoffice day ...`` (close, reopen, status), ``payoffice report daily`` and
``payoffice reconcile`` (cards against Stripe)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select


def _date(_ctx, _param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD, e.g. 2026-11-20") from None


def _office(session, code: str | None):
    """The office by code; with one office only, ``--office`` may be left out."""
    from kiosk.models import Office
    from payments import days

    if code:
        return days.office_by_code(session, code.strip().upper())
    codes = session.scalars(select(Office.code).limit(2)).all()
    if len(codes) != 1:
        raise click.UsageError("give --office (the office code, e.g. SA)")
    return days.office_by_code(session, codes[0])


def _staff(session, username: str | None, role: str):
    from kiosk.models import StaffUser

    if username is None:
        return None
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not user.active or not user.has_role(role):
        raise click.ClickException(f"{username} is not an active {role} user.")
    return user


def _fail(exc) -> None:
    click.echo(f"REFUSED ({exc.code}): {exc.message}", err=True)
    for blocker in exc.extra.get("blockers", []):
        click.echo(f"  - {blocker['message']}", err=True)
    sys.exit(1)


_office_option = click.option("--office", "office_code", help="Office code, e.g. SA.")
_date_option = click.option(
    "--date", "day", callback=_date, help="Business day YYYY-MM-DD (default: today)."
)


@click.group("day")
def day_group() -> None:
    """The business day: status, close and reopen."""


@day_group.command("status")
@_office_option
@_date_option
@with_appcontext
def day_status(office_code, day) -> None:
    """Whether the day is closed, and what would keep it from closing."""
    from kiosk import db
    from payments import days
    from payments.db import business_date
    from payments.states import PaymentError

    session = db.session()
    try:
        office = _office(session, office_code)
        day = day or business_date(tz=office.tz)
        record = days.get_day(session, office.id, day)
        click.echo(f"{office.code} {day.isoformat()}: {record.status if record else 'open'}")
        for blocker in days.close_blockers(session, office.id, day):
            click.echo(f"  - {blocker.message}")
    except PaymentError as exc:
        _fail(exc)


@day_group.command("close")
@_office_option
@_date_option
@click.option("--exception", help="Close anyway; says why (audited with what was left open).")
@click.option("--by", "username", help="The finance user closing the day (recorded).")
@with_appcontext
def day_close(office_code, day, exception, username) -> None:
    """Close and lock a business day (every drawer closed, no payment in flight, the CIS
    up to date), or close it with an explicit exception."""
    from kiosk import db
    from payments import days
    from payments.db import business_date
    from payments.states import PaymentError

    session = db.session()
    try:
        office = _office(session, office_code)
        day = day or business_date(tz=office.tz)
        user = _staff(session, username, "finance")
        outcome = days.close_day(
            session,
            office.id,
            day,
            actor=f"cli:{user.username}" if user else "cli",
            exception=exception,
            closed_by_id=user.id if user else None,
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        _fail(exc)
    if outcome.already_closed:
        click.echo(f"{office.code} {day.isoformat()} was already closed")
    elif outcome.blockers:
        click.echo(f"{office.code} {day.isoformat()} closed WITH EXCEPTION: {exception}")
        for blocker in outcome.blockers:
            click.echo(f"  - {blocker.message}")
    else:
        click.echo(f"{office.code} {day.isoformat()} closed")


@day_group.command("reopen")
@_office_option
@click.option("--date", "day", callback=_date, required=True, help="Business day YYYY-MM-DD.")
@click.option("--finance", "finance_username", required=True, help="Finance user reopening.")
@click.option("--supervisor", "supervisor_username", required=True, help="Approving supervisor.")
@click.option("--reason", required=True, help="Why the day is reopened (audited).")
@with_appcontext
def day_reopen(office_code, day, finance_username, supervisor_username, reason) -> None:
    """Reopen a closed day: a finance user and a different supervisor."""
    from kiosk import db
    from payments import days
    from payments.states import PaymentError

    session = db.session()
    try:
        office = _office(session, office_code)
        finance = _staff(session, finance_username, "finance")
        supervisor = _staff(session, supervisor_username, "supervisor")
        days.reopen_day(
            session,
            office.id,
            day,
            finance_user_id=finance.id,
            supervisor_id=supervisor.id,
            reason=reason,
            actor=f"cli:{finance.username}",
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        _fail(exc)
    click.echo(f"{office.code} {day.isoformat()} reopened")


@click.group("report")
def report_group() -> None:
    """Finance reports."""


@report_group.command("daily")
@_office_option
@_date_option
@click.option(
    "--format", "fmt", type=click.Choice(["pdf", "csv", "json"]), default="json", show_default=True
)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Default: stdout.")
@with_appcontext
def report_daily(office_code, day, fmt, output) -> None:
    """The daily report of an office: totals by tender, station, cashier and kiosk; voids and
    refunds with who approved them; net."""
    from kiosk import db
    from kiosk.reports import daily_report_csv, office_daily_report_pdf
    from payments import reports
    from payments.db import business_date
    from payments.states import PaymentError

    session = db.session()
    try:
        office = _office(session, office_code)
        report = reports.daily_report(session, office.id, day or business_date(tz=office.tz))
    except PaymentError as exc:
        _fail(exc)
    if fmt == "pdf":
        from flask import current_app

        target = current_app.config.get("SERVICE_TARGET_MINUTES")
        data = office_daily_report_pdf(session, report, target)
    elif fmt == "csv":
        data = daily_report_csv(report).encode("utf-8")
    else:
        data = (json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if output:
        with open(output, "wb") as fh:
            fh.write(data)
        click.echo(f"wrote {output} ({len(data)} bytes)", err=True)
    else:
        click.echo(data, nl=False)


@click.command("reconcile")
@_office_option
@_date_option
@click.option("--by", "username", help="The finance user running it (recorded in the audit).")
@with_appcontext
def reconcile_command(office_code, day, username) -> None:
    """Match the day's card payments and refunds to Stripe (fees, net, payouts) and update the
    exception list. Safe to run again. Exits 2 while exceptions of the day stay open."""
    from flask import current_app

    from kiosk import card_recon, db
    from payments.db import business_date
    from payments.states import PaymentError

    session = db.session()
    try:
        office = _office(session, office_code)
        day = day or business_date(tz=office.tz)
        user = _staff(session, username, "finance")
        result = card_recon.run(
            session,
            office.id,
            day,
            actor=f"cli:{user.username}" if user else "cli",
            app=current_app,
        )
        session.commit()
    except PaymentError as exc:
        session.rollback()
        _fail(exc)
    from payments.money import format_amount

    click.echo(
        f"{office.code} {day.isoformat()}: {result.matched_count} charge(s) matched "
        f"({format_amount(result.matched_cents)}, fees {format_amount(result.fee_cents)}, "
        f"net {format_amount(result.net_cents)}); {result.refunds_matched} refund(s) matched"
    )
    click.echo(
        f"exceptions: {result.new_exceptions} new, {result.still_open} open, "
        f"{result.auto_resolved} resolved on their own"
    )
    for f in result.findings:
        click.echo(f"  - {f.kind.value} {f.ref}: {f.detail}")
    if result.still_open:
        sys.exit(2)
