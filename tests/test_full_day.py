"""The whole business day end to end through the real service functions: kiosk card payments
through StripeTerminal on localstripe and the Terminal reader stand-in (one declined), counter
cash with change, a check, a money order, a split, a supervised void, refunds of yesterday's
payments (card back to the card, cash out of a drawer), queue tickets and visits, two drawers
(one over, one short, both approved by a supervisor) and a CIS outage (the http adapter against
a stand-in on 127.0.0.1 answering 503, then recovering). Then the day is closed and every
figure is checked against the records it sums, localstripe's charges, the deposit and the
posting batch; the locked day refuses changes and a late correction lands in the next day."""

# Fixtures are imported from the Stripe and CIS test modules, so their names are reused as
# test arguments on purpose.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import stripe
from sqlalchemy import func, select

from kiosk import measures, queue, visits
from kiosk.models import StaffUser, Visit
from payments import audit, days, deposit, outbox, posting_batch, reconciliation, reports, service
from payments import drawer as drawers
from payments.db import business_date, utcnow
from payments.models import DrawerSession, Payment, Refund, TenderLine
from payments.outbox import DELIVERED
from payments.posting import CIS_TOPICS
from payments.stripe_ledger import StripeApiLedger
from tests import factories
from tests.kiosk.test_posting_batch import (  # noqa: F401  (cis is a fixture)
    LATER,
    _http,
    _message,
    cis,
    deliver_batches,
)
from tests.payments.conftest import _hooks, command, make_world, tender  # noqa: F401
from tests.payments.stripe_terminal.conftest import (  # noqa: F401  (fixtures)
    _standin_server,
    gateway,
    standin,
)
from tests.payments.stripe_terminal.helpers import API_KEY, READER
from tests.support.terminal_standin import DECLINE_CARD

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")

_names = itertools.count(1)
# $200.00 float: 5 x $20, 5 x $10, 6 x $5, 10 x $1, 40 quarters
FLOAT = {"bill_20": 5, "bill_10": 5, "bill_5": 6, "bill_1": 10, "coin_25": 40}
FLOAT_CENTS = 20_000


def _staff(session, office, roles: str) -> StaffUser:
    # Built directly: nobody signs in here, and password hashing is slow on purpose.
    user = StaffUser(
        username=f"day-{roles}{next(_names)}",
        full_name=f"Day {roles.title()} {next(_names)}",
        password_hash="!",
        roles=roles,
        office_id=office.id,
    )
    session.add(user)
    session.flush()
    return user


def counts_for(cents: int) -> dict[str, int]:
    """A count by denomination worth exactly ``cents`` (largest pieces first)."""
    out = {}
    for name, value in drawers.DENOMINATIONS.items():
        pieces, cents = divmod(cents, value)
        if pieces:
            out[name] = pieces
    return out


class Day:
    """Builds the day through the service functions and keeps what it made."""

    def __init__(self, session, office, gateway, standin):
        self.s, self.gateway, self.standin = session, gateway, standin
        self.world = make_world(session, office)
        self.office = self.world.office
        self.sup = self.world.supervisor
        self.counter1, _ = factories.make_station(session, self.office, "counter", name="C1")
        self.counter2, _ = factories.make_station(session, self.office, "counter", name="C2")
        self.kiosk, _ = factories.make_station(session, self.office, "kiosk", name="Lobby")
        self.cashier1 = _staff(session, self.office, "cashier")
        self.cashier2 = _staff(session, self.office, "cashier")
        self.finance = _staff(session, self.office, "finance")
        session.commit()

    def pay(self, amount, *tenders, station=None, cashier=None, now=None, **kw) -> Payment:
        account = factories.make_account(self.s, balance_cents=amount)
        factories.make_bill(self.s, account, amount)
        cmd = command(
            self.world,
            amount,
            *tenders,
            account_id=account.id,
            account_number=account.number,
            station_id=station.id if station else None,
            staff_user_id=cashier.id if cashier else None,
            **kw,
        )
        payment = service.create_payment(self.s, cmd, now=now).payment
        self.s.commit()
        return payment

    def card(self, amount, card_number=None, now=None) -> Payment:
        p = self.pay(amount, tender("card", amount), station=self.kiosk, channel="kiosk", now=now)
        service.start_card(self.s, p, self.gateway, reader_id=READER, actor="kiosk:1")
        self.s.commit()
        if card_number:
            self.standin.present(READER, card_number)
        else:
            self.standin.present(READER)
        # The processor's answer, applied as of ``now`` (a card taken yesterday, for refunds).
        result = self.gateway.poll(p.id, p.processor_intent_id, p.reader_id)
        service.apply_card_result(self.s, p, result, actor="kiosk:1", now=now)
        self.s.commit()
        return p

    def open_drawer(self, station, cashier) -> DrawerSession:
        drawer, _ = drawers.open_drawer(
            self.s,
            office_id=self.office.id,
            station_id=station.id,
            cashier_id=cashier.id,
            counts=FLOAT,
            actor=cashier.username,
        )
        self.s.commit()
        return drawer


def _deliver_records(sessions) -> None:
    """Per-record CIS postings (payments, voids, refunds, visits), acknowledged by a handler;
    the day's batch goes through the http adapter below."""
    outbox.deliver_due(sessions, {t: (lambda m: "ack") for t in CIS_TOPICS}, limit=1000)


def _balance_transactions(standin) -> dict:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    return {
        bt.source: bt
        for bt in client.v1.balance_transactions.list({"limit": 100}).auto_paging_iter()
    }


def test_a_full_business_day(app, session, sessions, office, standin, gateway, cis):
    _http(app, cis)
    d = Day(session, office, gateway, standin)
    today = business_date()
    yesterday_noon = utcnow() - dt.timedelta(days=1)

    # -- yesterday: a counter cash payment and a kiosk card payment, refunded today --------
    old_cash = d.pay(3_000, station=d.counter2, cashier=d.cashier2, now=yesterday_noon)
    old_card = d.card(2_500, now=yesterday_noon)
    assert old_card.status == "succeeded" and old_card.business_date < today

    # -- the queue and the visits -----------------------------------------------------------
    t1 = queue.issue_ticket(session, office_id=d.office.id, service="billing")
    t2 = queue.issue_ticket(session, office_id=d.office.id, service="start_stop", language="es")
    session.commit()
    who1 = queue.Counter(d.office.id, d.counter1.id, d.cashier1.id, d.cashier1.username)
    who2 = queue.Counter(d.office.id, d.counter2.id, d.cashier2.id, d.cashier2.username)
    v1 = queue.call_next(session, who1).visit
    v2 = queue.call_next(session, who2).visit
    session.commit()
    kiosk_visit = visits.start_visit(session, office_id=d.office.id, station_id=d.kiosk.id)
    session.commit()

    # -- drawers and counter payments ----------------------------------------------------
    drawer1 = d.open_drawer(d.counter1, d.cashier1)
    drawer2 = d.open_drawer(d.counter2, d.cashier2)
    c1 = {"station": d.counter1, "cashier": d.cashier1}
    c2 = {"station": d.counter2, "cashier": d.cashier2}
    with_change = d.pay(1_250, tender("cash", 2_000), **c1)
    check = d.pay(800, tender("check", 800, "2231"), **c1)
    money_order = d.pay(600, tender("money_order", 600, "MO-7"), **c1)
    split = d.pay(1_000, tender("cash", 300), tender("check", 700, "88"), **c2)
    to_void = d.pay(2_000, tender("cash", 2_000), **c2)
    cash2 = d.pay(5_000, tender("cash", 5_000), **c2)
    assert with_change.change_cents == 750
    assert {p.status for p in (with_change, check, money_order, split, to_void, cash2)} == {
        "succeeded"
    }

    with pytest.raises(service.ValidationError):
        service.void_payment(session, to_void, supervisor_id=None, actor="c2")
    session.rollback()
    service.void_payment(
        session, to_void, supervisor_id=d.sup.id, actor=d.sup.username, reason="wrong account"
    )
    session.commit()

    # -- kiosk cards: two approved, one declined ------------------------------------------
    card_a = d.card(4_250)
    card_b = d.card(12_000)
    declined = d.card(3_300, DECLINE_CARD)
    assert (card_a.status, card_b.status, declined.status) == ("succeeded", "succeeded", "failed")

    # -- refunds of yesterday: to the card, and cash out of drawer 2 -----------------------
    card_refund = service.refund_payment(
        session,
        old_card,
        amount_cents=1_000,
        supervisor_id=d.sup.id,
        refund_key="day-refund-card",
        actor=d.sup.username,
        reason="charged twice",
        gateway=gateway,
    )
    cash_refund = service.refund_payment(
        session,
        old_cash,
        amount_cents=3_000,
        supervisor_id=d.sup.id,
        refund_key="day-refund-cash",
        actor=d.sup.username,
        kind="cash",
        reason="moved out",
        station_id=d.counter2.id,
    )
    session.commit()
    assert card_refund.business_date == today and card_refund.processor_refund_id
    assert cash_refund.drawer_session_id == drawer2.id

    # -- visits end --------------------------------------------------------------------------
    queue.finish(session, who1, v1.id, reasons=["billing.question"], outcome="paid")
    queue.finish(session, who2, v2.id, reasons=["service.start_stop"], outcome="resolved")
    visits.end_visit(session, kiosk_visit, outcome="paid")
    session.commit()
    assert {t1.ticket.status, t2.ticket.status} == {"done"}

    # -- drawers close: drawer 1 is $10.00 over, drawer 2 $7.00 short -------------------------
    assert drawers.expected_cash(session, drawer1) == FLOAT_CENTS + 1_250
    assert drawers.expected_cash(session, drawer2) == FLOAT_CENTS + 300 + 5_000 - 3_000
    drawer1, _ = drawers.close_drawer(
        session,
        drawer1,
        counts=_plus_float(1_250 + 1_000),
        closed_by_id=d.cashier1.id,
        actor=d.cashier1.username,
        checks_count=2,
        checks_cents=800 + 600,
    )
    session.commit()
    assert drawers.awaiting_approval(drawer1) and drawer1.over_short_cents == 1_000
    with pytest.raises(drawers.DrawerError):  # the cashier cannot approve their own drawer
        drawers.approve_drawer(session, drawer1, supervisor_id=d.cashier1.id, actor="c1")
    session.rollback()
    drawers.approve_drawer(session, drawer1, supervisor_id=d.sup.id, actor=d.sup.username)
    drawer2, _ = drawers.close_drawer(
        session,
        drawer2,
        counts=_plus_float(300 + 5_000 - 3_000 - 700),
        closed_by_id=d.cashier2.id,
        actor=d.cashier2.username,
        checks_count=1,
        checks_cents=700,
        supervisor_id=d.sup.id,
    )
    session.commit()
    assert drawer2.over_short_cents == -700 and not drawers.awaiting_approval(drawer2)

    # -- every CIS record goes out, then the day closes ------------------------------------
    _deliver_records(sessions)
    outcome = days.close_day(session, d.office.id, today, "fin1", closed_by_id=d.finance.id)
    session.commit()
    assert outcome.blockers == [] and days.is_locked(session, d.office.id, today)

    # -- the daily report equals the sums of the records -----------------------------------
    report = reports.daily_report(session, d.office.id, today)
    receipted = [with_change, check, money_order, split, to_void, cash2, card_a, card_b]
    of_day = session.scalars(
        select(Payment).where(
            Payment.office_id == d.office.id,
            Payment.business_date == today,
            Payment.receipt_number.is_not(None),
        )
    ).all()
    assert {p.id for p in of_day} == {p.id for p in receipted}
    live = [p for p in of_day if p.status != "voided"]
    assert (report.receipted.count, report.receipted.amount_cents) == (
        len(of_day),
        sum(p.amount_cents for p in of_day),
    )
    assert (report.voided.count, report.voided.amount_cents) == (1, to_void.amount_cents)
    assert (report.collected.count, report.collected.amount_cents) == (
        len(live),
        sum(p.amount_cents for p in live),
    )
    assert report.collected.amount_cents == 1_250 + 800 + 600 + 1_000 + 5_000 + 4_250 + 12_000
    refunds = session.scalars(select(Refund).where(Refund.business_date == today)).all()
    assert {r.id for r in refunds} == {card_refund.id, cash_refund.id}
    assert (report.refunds.count, report.refunds.amount_cents) == (
        2,
        sum(r.amount_cents for r in refunds),
    )
    assert report.fees_cents == sum(p.fee_cents for p in live)
    assert report.net_cents == (
        report.collected.amount_cents + report.fees_cents - report.refunds.amount_cents
    )
    lines = session.scalars(
        select(TenderLine).where(TenderLine.payment_id.in_([p.id for p in live]))
    ).all()
    by_kind = {t.kind: t for t in report.tenders}
    for kind in ("cash", "check", "money_order", "card"):
        mine = [t for t in lines if t.kind == kind]
        # change comes only out of cash
        paid_with = {t.payment_id for t in mine}
        change = sum(p.change_cents for p in live if p.id in paid_with) if kind == "cash" else 0
        back = sum(r.amount_cents for r in refunds if r.kind == kind)
        row = by_kind[kind]
        assert (row.count, row.tendered_cents, row.change_cents, row.refunded_cents) == (
            len(mine),
            sum(t.amount_cents for t in mine),
            change,
            back,
        ), kind
        assert row.net_cents == row.tendered_cents - change - back
    assert by_kind["cash"].collected_cents == 1_250 + 300 + 5_000
    assert sum(t.net_cents for t in report.tenders) == (
        report.collected.amount_cents - report.refunds.amount_cents
    )
    assert sum(g.amount_cents for g in report.by_station) == report.collected.amount_cents
    assert sum(g.amount_cents for g in report.by_operator) == report.collected.amount_cents
    assert sorted((a.kind, a.amount_cents, a.approved_by) for a in report.adjustments) == [
        ("refund", 1_000, d.sup.full_name),
        ("refund", 3_000, d.sup.full_name),
        ("void", 2_000, d.sup.full_name),
    ]
    # the cash the drawers hold is the cash the report collected, less the cash refund
    closed = [drawer1, drawer2]
    assert sum(dr.counted_cents - FLOAT_CENTS - dr.over_short_cents for dr in closed) == (
        by_kind["cash"].net_cents
    )

    # -- card totals equal localstripe's charges and balance transactions -------------------
    ledger = StripeApiLedger(API_KEY, api_base=standin.url, max_network_retries=0)
    result = reconciliation.reconcile(session, d.office.id, today, ledger)
    session.commit()
    assert result.findings == [] and result.refunds_matched == 1  # yesterday's, refunded today
    assert (result.matched_count, result.matched_cents) == (2, 4_250 + 12_000)
    txns = _balance_transactions(standin)
    rows = reconciliation.settlements_for_day(session, d.office.id, today)
    assert {r.payment_id for r in rows} == {card_a.id, card_b.id}
    for row in rows:
        bt = txns[row.charge_id]
        assert (row.amount_cents, row.fee_cents, row.net_cents) == (bt.amount, bt.fee, bt.net)
    assert by_kind["card"].collected_cents == sum(txns[r.charge_id].amount for r in rows)
    assert reconciliation.open_exceptions(session, d.office.id) == []
    # every charge localstripe holds is a receipt of ours (the decline's charge failed), and
    # its refunds are ours
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    charges = list(client.v1.charges.list({"limit": 100}).auto_paging_iter())
    paid = {c.id: c.amount for c in charges if c.status == "succeeded"}
    assert sorted(paid.values()) == sorted(p.amount_cents for p in (old_card, card_a, card_b))
    assert [c.amount for c in charges if c.status == "failed"] == [declined.amount_cents]
    assert {p.processor_charge_id for p in (old_card, card_a, card_b)} == set(paid)
    stripe_refunds = list(client.v1.refunds.list({"limit": 100}).auto_paging_iter())
    assert [(r.id, r.amount) for r in stripe_refunds] == [
        (card_refund.processor_refund_id, by_kind["card"].refunded_cents)
    ]

    # -- the deposit: the drawers' counts less their floats, and the checks recorded ---------
    slip = deposit.figures(session, d.office.id, today)
    assert slip.cash_cents == sum(dr.counted_cents for dr in closed) - 2 * FLOAT_CENTS
    assert slip.retained_cents == 2 * FLOAT_CENTS
    bag = deposit.prepare_deposit(
        session,
        d.office.id,
        today,
        bag_number="B-1124",
        prepared_by_id=d.finance.id,
        actor=d.finance.username,
    )
    session.commit()
    assert bag.cash_cents == (1_250 + 1_000) + (300 + 5_000 - 3_000 - 700)
    assert (bag.counted_cash_cents, bag.float_retained_cents) == (
        sum(dr.counted_cents for dr in closed),
        2 * FLOAT_CENTS,
    )
    assert (bag.checks_count, bag.checks_cents) == (2, 800 + 700)
    assert (bag.money_orders_count, bag.money_orders_cents) == (1, 600)
    assert bag.total_cents == bag.cash_cents + bag.checks_cents + bag.money_orders_cents
    assert bag.checks_cents + bag.money_orders_cents == (
        by_kind["check"].net_cents + by_kind["money_order"].net_cents
    )

    # -- the posting batch: totals equal the report; sent after a CIS outage -----------------
    batch = session.scalars(
        select(posting_batch.PostingBatch).where(
            posting_batch.PostingBatch.office_id == d.office.id,
            posting_batch.PostingBatch.business_date == today,
        )
    ).one()
    assert batch.control() == {
        "payment": {"count": report.receipted.count, "amount_cents": report.receipted.amount_cents},
        "payment_void": {"count": report.voided.count, "amount_cents": report.voided.amount_cents},
        "refund": {"count": report.refunds.count, "amount_cents": report.refunds.amount_cents},
    }
    assert batch.net_cents == report.collected.amount_cents - report.refunds.amount_cents
    reference, control = batch.reference, batch.control()
    session.commit()  # SQLite: end the read so the worker's sessions can write
    cis.mode = "down"
    assert deliver_batches(app).failed == 1
    assert _message(sessions, reference).status == "pending" and cis.batches == {}
    cis.mode = "up"
    assert deliver_batches(app, now=utcnow() + LATER).delivered == 1
    assert _message(sessions, reference).status == DELIVERED
    session.expire_all()
    done = posting_batch.get_by_reference(session, reference)
    assert done.status == "acknowledged" and done.ack_reference == f"CIS-{reference}"
    assert done.ack_at is not None and cis.batches[reference]["control"] == control
    session.commit()

    # -- the locked day refuses a payment, a void and a drawer change ----------------------
    with pytest.raises(days.DayClosed):
        d.pay(700, tender("cash", 700), **c1)
    session.rollback()
    with pytest.raises(service.Conflict) as refused:
        service.void_payment(session, check, supervisor_id=d.sup.id, actor=d.sup.username)
    assert refused.value.code == "day_closed"
    session.rollback()
    with pytest.raises(days.DayClosed):
        drawers.reopen_drawer(
            session, drawer1, supervisor_id=d.sup.id, actor=d.sup.username, reason="recount"
        )
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Payment)) == len(receipted) + 3

    # -- a late correction lands in the next day as an adjustment ---------------------------
    late = service.refund_payment(
        session,
        check,
        amount_cents=800,
        supervisor_id=d.sup.id,
        refund_key="day-late-check",
        actor=d.sup.username,
        kind="check",
        reason="check returned",
    )
    session.commit()
    tomorrow = today + dt.timedelta(days=1)
    assert late.business_date == tomorrow
    assert reports.daily_report(session, d.office.id, today).refunds == report.refunds
    next_day = reports.daily_report(session, d.office.id, tomorrow)
    assert [(a.kind, a.payment_id, a.amount_cents) for a in next_day.adjustments] == [
        ("refund", check.id, 800)
    ]
    assert next_day.refunds.amount_cents == 800 and next_day.collected.count == 0

    # -- the day's measures count the visits and tickets ----------------------------------
    m = measures.compute(session, d.office.id, "day", today)
    made_visits = session.scalars(select(Visit).where(Visit.office_id == d.office.id)).all()
    assert {v.id for v in made_visits} == {v1.id, v2.id, kiosk_visit.id}
    assert m.visits == len(made_visits)
    assert (m.tickets_issued, m.tickets_served, m.tickets_no_show) == (2, 2, 0)
    assert {c.code: c.count for c in m.by_channel} == {"counter": 2, "kiosk": 1}
    assert {c.code: c.count for c in m.by_outcome} == {"paid": 2, "resolved": 1}
    assert m.counter_transactions == len([p for p in live if p.channel == "counter"]) == 5

    # everything above left an unbroken audit chain, with the ack of the batch in it
    actions = set(session.scalars(select(audit.AuditEvent.action)))
    assert {"day.closed", "drawer.approved", "posting_batch.acknowledged"} <= actions
    assert audit.verify(session).intact


def _plus_float(cents: int) -> dict[str, int]:
    """The opening float piece for piece plus ``cents`` in the largest pieces."""
    counts = dict(FLOAT)
    for name, n in counts_for(cents).items():
        counts[name] = counts.get(name, 0) + n
    return counts
