"""Card reconciliation against localstripe (real HTTP on 127.0.0.1, the official SDK): card
payments taken through the Terminal stand-in match their charges one-to-one, with fee and net
from localstripe's balance transactions; a card void matches its refund; a charge with no
receipt and a receipt with no charge become exceptions; resolving is audited and a rerun
adds nothing. localstripe cannot make usd payouts, so the payout mapping is tested with the
in-memory ledger in tests/payments/test_reconciliation.py."""

from __future__ import annotations

import datetime as dt

import pytest
import stripe
from sqlalchemy import func, select

from payments import reconciliation, service
from payments.db import utcnow
from payments.gateway import CardRequest
from payments.reconciliation import ReconciliationException
from payments.simulated import SimulatedReader, set_test_card
from payments.stripe_ledger import StripeApiLedger
from tests.payments.conftest import command, tender
from tests.payments.stripe_terminal.helpers import API_KEY, READER, card_payment, start

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")


def paid(session, world, gateway, standin, cents):
    p = start(session, card_payment(session, world, cents), gateway)
    standin.present(READER)
    service.refresh_card(session, p, gateway, actor="kiosk:1")
    session.commit()
    assert p.status == "succeeded" and p.processor_charge_id.startswith("ch_")
    return p


def balance_transactions(standin) -> dict[str, stripe.StripeObject]:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    return {
        bt.source: bt
        for bt in client.v1.balance_transactions.list({"limit": 100}).auto_paging_iter()
    }


def test_card_payments_reconcile_with_localstripe(session, world, standin, gateway):
    a = paid(session, world, gateway, standin, 4_250)
    b = paid(session, world, gateway, standin, 12_000)
    voided = paid(session, world, gateway, standin, 3_300)
    service.void_payment(
        session, voided, supervisor_id=world.supervisor.id, actor="sup", gateway=gateway
    )
    session.commit()
    ledger = StripeApiLedger(API_KEY, api_base=standin.url, max_network_retries=0)

    result = reconciliation.reconcile(session, world.office.id, a.business_date, ledger)
    session.commit()

    assert result.findings == [] and result.refunds_matched == 1
    assert (result.matched_count, result.matched_cents) == (3, 4_250 + 12_000 + 3_300)
    txns = balance_transactions(standin)
    rows = reconciliation.settlements_for_day(session, world.office.id, a.business_date)
    assert {r.payment_id for r in rows} == {a.id, b.id, voided.id}
    for row in rows:
        bt = txns[row.charge_id]  # localstripe's fees are always 0: the figures still come from it
        assert (row.balance_transaction_id, row.fee_cents, row.net_cents) == (bt.id, bt.fee, bt.net)
        assert row.amount_cents == bt.amount
    assert result.fee_cents == sum(txns[r.charge_id].fee for r in rows)
    assert result.net_cents == sum(txns[r.charge_id].net for r in rows)


def test_stray_charge_and_missing_charge_then_resolve_and_rerun(session, world, standin, gateway):
    p = paid(session, world, gateway, standin, 5_000)
    # A charge at Stripe that no receipt accounts for (made by another tool, say).
    ghost = gateway.start(
        CardRequest("ghost-payment", 999, READER, {"office_id": str(world.office.id)})
    )
    standin.present(READER)
    # A receipt whose charge Stripe never saw (here: taken on a simulated reader).
    set_test_card(session, "sim-1", "approve")
    reader = SimulatedReader(session)
    lost = service.create_payment(session, command(world, 2_000, tender("card", 2_000))).payment
    service.start_card(session, lost, reader, reader_id="sim-1", actor="kiosk:1")
    service.refresh_card(session, lost, reader, actor="kiosk:1")
    session.commit()
    assert lost.status == "succeeded"
    ledger = StripeApiLedger(API_KEY, api_base=standin.url, max_network_retries=0)

    first = reconciliation.reconcile(session, world.office.id, p.business_date, ledger)
    session.commit()

    ghost_charge = gateway.poll("ghost-payment", ghost.intent_id, None).charge_id
    found = {(f.kind.value, f.ref) for f in first.findings}
    assert found == {
        ("charge_without_receipt", ghost_charge),
        ("receipt_without_charge", lost.id),
    }
    assert first.matched_count == 1 and first.new_exceptions == 2

    stray = session.scalars(
        select(ReconciliationException).where(ReconciliationException.ref == ghost_charge)
    ).one()
    reconciliation.resolve_exception(
        session, stray.id, note="Test charge; refunded at Stripe.", actor="fin", resolved_by_id=None
    )
    session.commit()

    again = reconciliation.reconcile(session, world.office.id, p.business_date, ledger)
    session.commit()
    assert (again.new_exceptions, again.still_open, again.auto_resolved) == (0, 1, 0)
    assert session.scalar(select(func.count()).select_from(ReconciliationException)) == 2
    assert session.get(ReconciliationException, stray.id).resolved_by == "fin"
    assert [e.ref for e in reconciliation.open_exceptions(session, world.office.id)] == [lost.id]
    assert utcnow() >= stray.found_at


def test_payouts_are_read_from_localstripe(standin):
    """localstripe makes only eur payouts and cannot list a payout's balance transactions, so
    only the reading of payouts is tested here; their mapping uses the in-memory ledger."""
    ledger = StripeApiLedger(API_KEY, api_base=standin.url, max_network_retries=0)
    made = ledger.client.v1.payouts.create({"amount": 1_000, "currency": "eur"})
    now = utcnow()
    found = ledger.payouts(now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))
    assert [(p.id, p.amount_cents, p.currency, p.status) for p in found] == [
        (made.id, 1_000, "eur", "pending")
    ]
    assert found[0].arrival_date > now.date()
    assert ledger.payouts(now + dt.timedelta(hours=1), now + dt.timedelta(hours=2)) == []
