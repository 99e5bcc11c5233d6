"""``payoffice cis ...``: account imports and a look at CIS deliveries."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select


@click.group("cis")
def cis_group() -> None:
    """The CIS link: account imports and deliveries."""


@cis_group.command("import-accounts")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--actor", default="cli", show_default=True, help="Who ran the import (audit).")
@with_appcontext
def import_accounts_command(csv_file: str, actor: str) -> None:
    """Load accounts and open bills from a CIS export (format: docs/cis.md).

    Every row is checked first; a file with any bad row is refused whole and nothing is
    imported (exit status 1).
    """
    from kiosk import db
    from kiosk.cis.importer import ImportRefused, import_accounts

    session = db.session()
    try:
        result = import_accounts(session, csv_file, actor=actor)
        session.commit()
    except ImportRefused as refused:
        for error in refused.errors:
            click.echo(str(error), err=True)
        if refused.total > len(refused.errors):
            click.echo(f"... and {refused.total - len(refused.errors)} more", err=True)
        click.echo(
            f"REFUSED: {refused.total} problem(s) in {csv_file}; nothing was imported.",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"imported {result.rows} rows: {result.accounts} accounts "
        f"({result.accounts_new} new, {result.accounts_updated} updated), {result.bills} "
        f"open bills ({result.bills_new} new, {result.bills_updated} updated), "
        f"{result.bills_closed} bills no longer open; sha256 {result.sha256}"
    )


@cis_group.command("status")
@with_appcontext
def status_command() -> None:
    """Pending and failing CIS deliveries, oldest first."""
    from kiosk import db
    from kiosk.cis.base import TOPICS
    from payments.outbox import PENDING, OutboxMessage

    session = db.session()
    rows = session.execute(
        select(OutboxMessage.topic, OutboxMessage.status, func.count())
        .where(OutboxMessage.topic.in_(TOPICS))
        .group_by(OutboxMessage.topic, OutboxMessage.status)
        .order_by(OutboxMessage.topic, OutboxMessage.status)
    ).all()
    for topic, status, count in rows:
        click.echo(f"{topic:<22} {status:<10} {count}")
    failing = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.topic.in_(TOPICS),
            OutboxMessage.status == PENDING,
            OutboxMessage.last_error.is_not(None),
        )
        .order_by(OutboxMessage.id)
        .limit(20)
    ).all()
    for msg in failing:
        click.echo(f"failing: {msg.topic} {msg.key} attempts={msg.attempts}: {msg.last_error}")


@cis_group.command("read-acks")
@click.option("--actor", default="cli", show_default=True, help="Who read them (audit).")
@with_appcontext
def read_acks_command(actor: str) -> None:
    """Record the CIS's acknowledgments of the daily posting batches (file adapter:
    CIS_EXCHANGE_DIR/inbound/postings-<office>-<date>.ack; format in docs/cis.md)."""
    from flask import current_app

    from kiosk import db
    from kiosk.cis.posting_batches import archive, read_acks

    session = db.session()
    results = read_acks(session, current_app.config["CIS_EXCHANGE_DIR"], actor=actor)
    session.commit()
    archive(results)
    for r in results:
        click.echo(f"{r.file}: {r.status} {r.reference or ''} {r.message}".rstrip())
    if not results:
        click.echo("no acknowledgment files")
    if any(r.status in ("error", "rejected") for r in results):
        sys.exit(1)
