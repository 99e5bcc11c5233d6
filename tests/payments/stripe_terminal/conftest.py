"""Fixtures for the Stripe tests: localstripe and the Terminal reader stand-in on one loopback
HTTP front (started once per run, emptied per test), a ``StripeTerminal`` gateway aimed at it,
the app wired to it, and helpers to make a card payment."""

from __future__ import annotations

import atexit
import threading

import pytest
from werkzeug.serving import make_server

from payments.stripe_terminal import StripeTerminal
from tests.payments.stripe_terminal.helpers import API_KEY, WEBHOOK_SECRET
from tests.support import terminal_standin

_shared: list[terminal_standin.TerminalStandIn] = []


def _shared_standin() -> terminal_standin.TerminalStandIn:
    """One server per test process: localstripe's app object can be served only once."""
    if not _shared:
        standin = terminal_standin.start()
        atexit.register(standin.loop.stop)
        _shared.append(standin)
    return _shared[0]


@pytest.fixture(scope="session")
def _standin_server():
    return _shared_standin()


@pytest.fixture
def standin(_standin_server):
    _standin_server.reset()
    _standin_server.webhook_secret = WEBHOOK_SECRET
    yield _standin_server
    _standin_server.reset()


@pytest.fixture
def gateway(standin) -> StripeTerminal:
    return StripeTerminal(API_KEY, api_base=standin.url, max_network_retries=0)


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
