"""The ``payoffice`` command: database, demo, worker, CIS, stations, staff and audit."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from kiosk import create_app, db


@click.group(
    cls=FlaskGroup,
    create_app=create_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def cli() -> None:
    """Santa Ana payment office: kiosk, counter, finance and the CIS link."""


def main() -> None:
    cli(prog_name="payoffice")


# -- database -------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    from kiosk.migrate import current_revision, upgrade

    engine = db.database().engine
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")


# -- staff ----------------------------------------------------------------------------------


@cli.group("user")
def user_group() -> None:
    """Staff accounts."""


@user_group.command("add")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="Full name shown on receipts.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["cashier", "supervisor", "finance", "admin"]),
)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--pin", default=None, help="4-8 digit PIN to unlock the counter after a break.")
@with_appcontext
def user_add(username, full_name, roles, password, pin) -> None:
    """Create a staff account."""
    from kiosk.staff import StaffError, create_user

    session = db.session()
    try:
        create_user(session, username, full_name, password, list(roles), pin=pin, actor="cli")
    except StaffError as exc:
        raise click.ClickException(exc.message) from exc
    session.commit()
    click.echo(f"created {username} ({', '.join(roles)})")


def _staff_user(session, username: str):
    from kiosk.models import StaffUser

    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


@user_group.command("disable")
@click.argument("username")
@with_appcontext
def user_disable(username) -> None:
    """Stop an account from signing in."""
    from kiosk.staff import StaffError, disable_user

    session = db.session()
    try:
        disable_user(session, _staff_user(session, username), actor="cli", actor_id=None)
    except StaffError as exc:
        raise click.ClickException(exc.message) from exc
    session.commit()
    click.echo(f"disabled {username}")


@user_group.command("unlock")
@click.argument("username")
@with_appcontext
def user_unlock(username) -> None:
    """Lift a sign-in lockout after too many wrong passwords."""
    from kiosk.staff import unlock_user

    session = db.session()
    unlock_user(session, _staff_user(session, username), actor="cli")
    session.commit()
    click.echo(f"unlocked {username}")


# -- stations -------------------------------------------------------------------------------


@cli.group("station")
def station_group() -> None:
    """Kiosk and counter stations."""


@station_group.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["kiosk", "counter"]), required=True)
@click.option("--office", "office_code", default=None, help="Office code (default: this office).")
@click.option(
    "--printer", "printer_url", default=None, help="Printer URL, e.g. tcp://10.0.0.5:9100"
)
@click.option("--reader", "reader_id", default=None, help="Stripe Terminal reader id (tmr_...).")
@with_appcontext
def station_add(name, kind, office_code, printer_url, reader_id) -> None:
    """Register a station and print its one-time pairing code."""
    from kiosk.models import Office
    from kiosk.stations import StationError, add_station

    session = db.session()
    code_ = office_code or current_app.config["OFFICE_CODE"]
    office = session.scalar(select(Office).where(Office.code == code_))
    if office is None:
        raise click.ClickException(f"no office with code {code_!r}")
    try:
        station, code = add_station(
            session,
            office,
            name,
            kind,
            printer_url=printer_url,
            reader_id=reader_id,
            pairing_minutes=current_app.config["PAIRING_CODE_MINUTES"],
            actor="cli",
        )
    except StationError as exc:
        raise click.ClickException(exc.message) from exc
    session.commit()
    base = current_app.config["BASE_URL"].rstrip("/")
    click.echo(f"station {station.name!r} ({kind}) registered")
    click.echo(f"pairing code: {code}  (valid {current_app.config['PAIRING_CODE_MINUTES']} min)")
    click.echo(f"open {base}/pair on the station's browser and enter the code")


@station_group.command("list")
@with_appcontext
def station_list() -> None:
    """List stations and whether they are paired."""
    from kiosk.models import Station

    for s in db.session().scalars(select(Station).order_by(Station.id)):
        state = "paired" if s.device_token_hash else "not paired"
        paired = state if s.active else "disabled"
        click.echo(f"{s.id:>3}  {s.name:<20} {s.kind:<8} {paired:<11} {s.printer_url or '-'}")


def _station(session, name: str, office_code: str | None):
    from kiosk.models import Office
    from kiosk.stations import StationError, find_station

    code_ = office_code or current_app.config["OFFICE_CODE"]
    office = session.scalar(select(Office).where(Office.code == code_))
    if office is None:
        raise click.ClickException(f"no office with code {code_!r}")
    try:
        return find_station(session, office, name)
    except StationError as exc:
        raise click.ClickException(exc.message) from exc


@station_group.command("pair-code")
@click.argument("name")
@click.option("--office", "office_code", default=None, help="Office code (default: this office).")
@with_appcontext
def station_pair_code(name, office_code) -> None:
    """Issue a new one-time pairing code; the device paired before is signed out."""
    from kiosk.stations import StationError, issue_pairing_code

    session = db.session()
    station = _station(session, name, office_code)
    minutes = current_app.config["PAIRING_CODE_MINUTES"]
    try:
        code = issue_pairing_code(session, station, minutes, actor="cli")
    except StationError as exc:
        raise click.ClickException(exc.message) from exc
    session.commit()
    base = current_app.config["BASE_URL"].rstrip("/")
    click.echo(f"pairing code for {station.name!r}: {code}  (valid {minutes} min)")
    click.echo(f"open {base}/pair on the station's browser and enter the code")


@station_group.command("disable")
@click.argument("name")
@click.option("--office", "office_code", default=None, help="Office code (default: this office).")
@with_appcontext
def station_disable(name, office_code) -> None:
    """Retire a station: its browser stops working at once."""
    from kiosk.stations import StationError, disable_station

    session = db.session()
    station = _station(session, name, office_code)
    try:
        disable_station(session, station, actor="cli")
    except StationError as exc:
        raise click.ClickException(exc.message) from exc
    session.commit()
    click.echo(f"station {station.name!r} disabled")


# -- audit ----------------------------------------------------------------------------------


@cli.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the hash chain; exit 1 at the first edited or missing entry."""
    from payments import audit

    report = audit.verify(db.session())
    if report.intact:
        click.echo(f"audit chain intact: {report.checked} entries")
        return
    click.echo(
        f"audit chain BROKEN at entry {report.first_broken_seq}: {report.problem} "
        f"({report.checked} entries verified before it)",
        err=True,
    )
    sys.exit(1)


def _register_optional_groups() -> None:
    """Command groups that live beside the code they drive."""
    from kiosk.cis.cli import cis_group
    from kiosk.demo import demo_command
    from kiosk.finance_cli import day_group, reconcile_command, report_group
    from kiosk.worker import worker_command

    cli.add_command(cis_group)
    cli.add_command(demo_command)
    cli.add_command(worker_command)
    cli.add_command(day_group)
    cli.add_command(report_group)
    cli.add_command(reconcile_command)


_register_optional_groups()
