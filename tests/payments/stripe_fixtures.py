"""Fixtures for the Stripe tests: localstripe and the Terminal reader stand-in on one loopback
HTTP front (started once per run, emptied per test), a ``StripeTerminal`` gateway aimed at it,
and helpers to make a card payment. Import the fixtures you use into the test module."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from payments import service
from payments.stripe_terminal import StripeTerminal
from tests.payments.conftest import command, tender
from tests.support import terminal_standin

READER = "tmr_lobby_kiosk"
WEBHOOK_SECRET = "whsec_test_" + "0" * 24
API_KEY = "sk_test_payoffice"


@pytest.fixture(scope="session")
def _standin_server():
    standin = terminal_standin.start()
    yield standin
    standin.loop.stop()


@pytest.fixture
def standin(_standin_server):
    _standin_server.reset()
    _standin_server.webhook_secret = WEBHOOK_SECRET
    yield _standin_server
    _standin_server.reset()


@pytest.fixture
def gateway(standin) -> StripeTerminal:
    return StripeTerminal(API_KEY, api_base=standin.url, max_network_retries=0)


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


@pytest.fixture
def stripe_app(app, standin, gateway):
    """The office app configured for Stripe (webhook secret, gateway on the stand-in)."""
    from kiosk.webhooks import GATEWAY_FACTORY

    app.config["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    app.extensions[GATEWAY_FACTORY] = lambda _session: gateway
    return app


@pytest.fixture
def live_app(stripe_app, standin):
    """``stripe_app`` served over real HTTP on 127.0.0.1; the stand-in delivers webhooks to it."""
    server = make_server("127.0.0.1", 0, stripe_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    standin.webhook_url = f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
    yield stripe_app
    server.shutdown()
    thread.join(timeout=10)
