"""Constants and helpers shared by the Stripe tests (fixtures are in conftest.py)."""

from __future__ import annotations

from payments import service
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
