"""Constants and helpers shared by the Stripe tests (fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt

from payments import recovery, service, states
from payments.db import utcnow
from payments.models import Payment, PaymentStatus
from tests.payments.conftest import command, tender

READER = "tmr_lobby_kiosk"
WEBHOOK_SECRET = "whsec_test_" + "0" * 24
API_KEY = "sk_test_payoffice"


def card_payment(session, world, cents: int = 5_000, **kw):
    """A committed card payment in ``created``, waiting to be handed to the reader."""
    outcome = service.create_payment(session, command(world, cents, tender("card", cents), **kw))
    session.commit()
    return outcome.payment


def start(session, payment, gateway, reader: str = READER, *, close: bool = False):
    """Hand the payment to the reader and commit. ``close`` ends the session afterwards, so a
    test's own session never holds SQLite's write lock while the app works."""
    service.start_card(session, payment, gateway, reader_id=reader, actor="kiosk:1")
    session.commit()
    if close:
        session.close()
    return payment


LATER = dt.timedelta(hours=1)  # past the sweep's grace period for an abandoned attempt


def sweep(sessions, gateway, *, later: bool = False):
    """One recovery sweep, now or an hour from now."""
    return recovery.sweep(sessions, gateway, now=utcnow() + (LATER if later else dt.timedelta(0)))


def fresh(sessions, payment_id: str) -> Payment:
    """The payment as stored, read in a new session."""
    with sessions() as s:
        return s.get(Payment, payment_id)


def charged_after_cancel(session, world, standin, gateway) -> Payment:
    """A card payment canceled here without telling Stripe, whose card the reader then takes."""
    payment = start(session, card_payment(session, world), gateway)
    states.transition(session, payment, PaymentStatus.CANCELED, actor="test")
    session.commit()
    session.close()
    standin.present(READER)
    return payment
