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
from tests.payments.stripe_terminal.helpers import card_payment
from tests.support import card_flow_child

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


class Child:
    """The card flow for one payment in its own process; the reader's webhooks go to it."""

    def __init__(self, processes, tmp_path, database_url, api_base, payment_id, reader, crash_at):
        self.reader = reader
        self.ports, self.go = processes.Queue(), processes.Event()
        args = (database_url, api_base, payment_id, reader, str(tmp_path / f"inst-{reader}"))
        self.proc = processes.Process(
            target=card_flow_child.run, args=(args, crash_at, self.ports, self.go)
        )
        self.proc.start()

    def connect(self, standin) -> None:
        """Point the reader's webhooks at the child's server, then let it start paying."""
        port = self.ports.get(timeout=90)
        standin.webhook_urls[self.reader] = f"http://127.0.0.1:{port}/webhooks/stripe"
        self.go.set()

    def finish(self) -> int:
        self.proc.join(timeout=90)
        if self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join()
        return self.proc.exitcode


def test_kill_at_every_step_then_one_sweep(
    processes, tmp_path, database_url, session, sessions, world, standin, gateway
):
    payments = {
        point: card_payment(session, world, 1_000 + n) for n, point in enumerate(CRASH_POINTS)
    }
    session.close()
    # One reader per child; the stand-in sends each reader's webhooks to its child's port.
    children = {
        point: Child(processes, tmp_path, database_url, standin.url, p.id, f"tmr_{n}", point)
        for n, (point, p) in enumerate(payments.items())
    }
    for child in children.values():
        child.connect(standin)

    for point, child in children.items():
        expected = 0 if point is None else -signal.SIGKILL
        assert child.finish() == expected, f"{point}: exit code {child.proc.exitcode}"

    report = recovery.sweep(sessions, gateway, now=utcnow(), abandon_after=dt.timedelta(0))
    assert report.errors == 0 and report.unmatched == 0, report

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
    processes, tmp_path, database_url, session, sessions, world, standin
):
    """The kiosk retries the same payment after a crash: still one intent and one charge."""
    payment = card_payment(session, world, 2_500)
    session.close()
    for crash_at in ("card.after_handoff", None):
        child = Child(processes, tmp_path, database_url, standin.url, payment.id, "tmr_r", crash_at)
        child.connect(standin)
        assert child.finish() == (-signal.SIGKILL if crash_at else 0)
    mine = [i for i in standin.intents() if i["metadata"].get("payment_id") == payment.id]
    assert len(mine) == 1 and mine[0]["status"] == "succeeded"
    with sessions() as s:
        local = s.get(Payment, payment.id)
        assert local.status == S.SUCCEEDED
        assert local.processor_charge_id == mine[0]["latest_charge"]["id"]
