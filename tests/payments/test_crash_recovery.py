"""Crash tests: a real subprocess runs the kiosk card flow against localstripe + the reader
stand-in and is killed with SIGKILL at every step (one child per step, all at once). After
that "restart", one recovery sweep must leave: no payment lost or left in flight, none charged
twice, every Stripe charge matched to exactly one receipt, the audit chain intact."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import signal

import pytest
from sqlalchemy import select

from payments import audit, recovery
from payments.db import utcnow
from payments.models import Payment
from payments.models import PaymentStatus as S
from tests.payments.stripe_fixtures import (  # noqa: F401 - fixtures
    _standin_server,
    card_payment,
    gateway,
    standin,
)
from tests.support import card_flow_child
from tests.support.localstripe_server import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")

# step -> whether the card was charged by the time the process died
CRASH_POINTS = {
    "card.before_create": False,  # inside start_card, before the PaymentIntent exists
    "card.after_create": False,  # the intent exists; our transaction never committed
    "card.after_handoff": False,  # the reader shows the amount; still uncommitted
    "card.after_start_commit": False,  # awaiting_card committed, no card yet
    "card.after_approved": True,  # the reader approved; webhooks in flight
    "webhook.received": True,  # the webhook arrived, signature checked
    "settle.before_commit": True,  # success applied, receipt number taken, not committed
    "settle.after_commit": True,  # committed; the process dies before answering Stripe
    None: True,  # no crash: the control case
}


@pytest.fixture(scope="module")
def processes():
    """A forkserver with the application preloaded: every child is a fresh, separate
    process (no threads or connections of ours) without paying the imports each time."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.support.card_flow_child"])
    return ctx


def spawn(processes, standin, database_url, payment_id, reader, crash_at):
    """Start the card flow for one payment; the reader's webhooks go to that child."""
    port = free_port()
    standin.webhook_urls[reader] = f"http://127.0.0.1:{port}/webhooks/stripe"
    proc = processes.Process(
        target=card_flow_child.run,
        args=(database_url, standin.url, payment_id, reader, port, crash_at),
    )
    proc.start()
    return proc


def finish(proc) -> int:
    proc.join(timeout=90)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
    return proc.exitcode


def test_kill_at_every_step_then_one_sweep(
    processes, database_url, session, sessions, world, standin, gateway
):
    payments = {
        point: card_payment(session, world, 1_000 + n) for n, point in enumerate(CRASH_POINTS)
    }
    session.close()
    # One reader per child; the stand-in sends each reader's webhooks to its child's port.
    children = {}
    for n, (point, payment) in enumerate(payments.items()):
        reader = f"tmr_crash_{n}"
        children[point] = spawn(processes, standin, database_url, payment.id, reader, point)

    for point, proc in children.items():
        expected = 0 if point is None else -signal.SIGKILL
        assert finish(proc) == expected, f"{point}: exit code {proc.exitcode}"

    report = recovery.sweep(sessions, gateway, now=utcnow(), abandon_after=dt.timedelta(0))
    assert report.errors == 0, report

    intents = standin.intents()
    with sessions() as s:
        for point, payment in payments.items():
            local = s.get(Payment, payment.id)
            mine = [i for i in intents if i["metadata"].get("payment_id") == payment.id]
            charged = [i for i in mine if i["status"] == "succeeded"]
            assert len(mine) <= 1, f"{point}: {len(mine)} intents"
            assert len(charged) == int(CRASH_POINTS[point]), point
            assert not local.needs_review, point
            if charged:
                assert local.status == S.SUCCEEDED and local.receipt_number, point
                assert local.processor_intent_id == charged[0]["id"], point
                assert local.processor_charge_id == charged[0]["latest_charge"]["id"], point
            else:
                assert local.status == S.CANCELED, f"{point}: {local.status}"
                assert all(i["status"] == "canceled" for i in mine), point

        charge_ids = [i["latest_charge"]["id"] for i in intents if i["status"] == "succeeded"]
        receipts = s.execute(
            select(Payment.processor_charge_id, Payment.receipt_number).where(
                Payment.processor_charge_id.in_(charge_ids)
            )
        ).all()
        assert sorted(c for c, _ in receipts) == sorted(charge_ids)  # one receipt per charge
        assert all(r for _, r in receipts)
        assert len({r for _, r in receipts}) == len(receipts)
        assert audit.verify(s).intact
    assert recovery.sweep(sessions, gateway, abandon_after=dt.timedelta(0)).checked == 0


def test_retry_after_crash_reuses_the_intent(
    processes, database_url, session, sessions, world, standin
):
    """The kiosk retries the same payment after a crash: still one intent and one charge."""
    payment = card_payment(session, world, 2_500)
    session.close()
    args = (processes, standin, database_url, payment.id, "tmr_retry")
    assert finish(spawn(*args, "card.after_handoff")) == -signal.SIGKILL
    assert finish(spawn(*args, None)) == 0
    mine = [i for i in standin.intents() if i["metadata"].get("payment_id") == payment.id]
    assert len(mine) == 1 and mine[0]["status"] == "succeeded"
    with sessions() as s:
        local = s.get(Payment, payment.id)
        assert local.status == S.SUCCEEDED
        assert local.processor_charge_id == mine[0]["latest_charge"]["id"]
