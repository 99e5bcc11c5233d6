"""The card reconciliation as the application runs it: which ledger to read (Stripe with
``PAYOFFICE_CARD_GATEWAY=stripe``, else the demo's in-memory ledger built from the simulated
reader's payments) and the grace period from the settings. Used by the finance pages, the
API and ``payoffice reconcile``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from payments import reconciliation
from payments.reconciliation import RunResult, StripeLedger

LEDGER_FACTORY = "payoffice.stripe_ledger_factory"  # tests put their own ledger here


def ledger_for(session: Session, office_id: int, app: Any = None) -> StripeLedger:
    app = app or current_app
    factory = app.extensions.get(LEDGER_FACTORY)
    if factory is not None:
        return factory(session, office_id)
    if app.config.get("CARD_GATEWAY") == "stripe":
        from payments.stripe_ledger import StripeApiLedger

        return StripeApiLedger.from_settings(app.config)
    return reconciliation.demo_ledger(session, office_id)


def run(
    session: Session, office_id: int, day: dt.date, *, actor: str, app: Any = None
) -> RunResult:
    """Reconcile one office's business day in the caller's transaction."""
    app = app or current_app
    return reconciliation.reconcile(
        session,
        office_id,
        day,
        ledger_for(session, office_id, app),
        actor=actor,
        grace_days=int(app.config.get("PAYOUT_GRACE_DAYS", reconciliation.DEFAULT_GRACE_DAYS)),
    )
