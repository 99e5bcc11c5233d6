"""One kiosk card payment, run as a separate process so a test can SIGKILL it at any step.

    python -m tests.support.card_flow_child DATABASE_URL API_BASE PAYMENT_ID READER INSTANCE PORT

or ``run(...)`` as the target of a ``multiprocessing`` forkserver process (imports paid once).

It serves the office app on 127.0.0.1:PORT (the reader stand-in delivers webhooks there),
hands the committed payment to the reader, taps an approving test card, and waits for the
webhook to settle the payment (polling Stripe as the fallback). ``PAYOFFICE_CRASH_AT`` names
the step at which ``payments.crashpoints.reach`` kills the process.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import stripe
from werkzeug.serving import make_server

from kiosk import create_app
from kiosk.webhooks import GATEWAY_FACTORY
from payments import crashpoints, recovery, service
from payments.models import Payment
from payments.states import IN_FLIGHT

API_KEY = "sk_test_payoffice"
WEBHOOK_SECRET = "whsec_test_" + "0" * 24


def _import_everything() -> None:
    """create_app imports most of the application lazily; build one throwaway app at import
    so that a forkserver that preloads this module hands every child a warm interpreter."""
    with tempfile.TemporaryDirectory(prefix="payoffice-warm-") as inst:
        create_app(
            {
                "ENV_NAME": "test",
                "DATABASE_URL": "sqlite://",
                "INSTANCE_PATH": inst,
                "SECRET_KEY": "warm-up",
            }
        )


_import_everything()


def main(
    database_url: str,
    api_base: str,
    payment_id: str,
    reader: str,
    instance: str,
    *,
    port: int = 0,
    listening: Callable[[int], None] | None = None,
) -> int:
    app = create_app(
        {
            "ENV_NAME": "test",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "child",
            "CARD_GATEWAY": "stripe",
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_API_BASE": api_base,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if listening is not None:
        listening(server.server_port)  # the test points the reader's webhooks here
    sessions = app.extensions["payoffice.db"].sessions
    gateway = app.extensions[GATEWAY_FACTORY](None)

    with sessions() as session:
        payment = session.get(Payment, payment_id)
        service.start_card(session, payment, gateway, reader_id=reader, actor="kiosk:crash-test")
        session.commit()
    crashpoints.reach("card.after_start_commit")

    client = stripe.StripeClient(API_KEY, base_addresses={"api": api_base})
    client.v1.test_helpers.terminal.readers.present_payment_method(
        reader, {"type": "card_present", "card_present": {"number": "4242424242424242"}}
    )
    crashpoints.reach("card.after_approved")

    deadline = time.monotonic() + 20  # the webhook normally lands within milliseconds
    while time.monotonic() < deadline:
        with sessions() as session:
            status = session.get(Payment, payment_id).status
        if status not in IN_FLIGHT:
            break
        time.sleep(0.05)
    else:
        recovery.settle_payment(sessions, payment_id, gateway, actor="kiosk:crash-test")
    with sessions() as session:
        print(session.get(Payment, payment_id).status, flush=True)
    server.shutdown()
    return 0


def run(args: tuple[str, str, str, str, str], crash_at: str | None, ports, go) -> None:
    """Process target: report the webhook port on ``ports``, wait for ``go``, then run the
    flow, crashing at ``crash_at`` (or nowhere). Exit code 0 when the payment is settled."""
    if crash_at:
        os.environ[crashpoints.ENV] = crash_at
    else:
        os.environ.pop(crashpoints.ENV, None)

    def listening(port: int) -> None:
        ports.put(port)
        if not go.wait(60):
            raise SystemExit("the test never said go")

    sys.exit(main(*args, listening=listening))


if __name__ == "__main__":
    url, base, pid, reader_id, instance_dir, port_text = sys.argv[1:7]
    sys.exit(main(url, base, pid, reader_id, instance_dir, port=int(port_text)))
