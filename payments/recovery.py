"""Settling card payments from the processor's state: the recovery sweep (worker start-up and
every minute) and the webhook both come through ``settle_payment``.

A card payment still in ``created``, ``awaiting_card`` or ``processing`` may have been left
there by a crash at any step. The processor's state is the truth about money:

- an intent for the payment **succeeded** -> the payment completes locally (receipt number,
  events and CIS message through ``payments.service.apply_card_result``);
- the attempt **failed** (declined) or was canceled -> the payment fails / is canceled;
- still **pending** and older than ``abandon_after`` (or never reached the processor) -> the
  reader action and the intent are canceled at the processor, then the payment locally; if the
  card was approved in that moment, the payment completes instead;
- **ambiguous** (two succeeded intents for one payment, an amount that is not the card amount)
  -> ``needs_review`` is set and audited for staff; the sweep leaves it alone from then on.

Network calls happen outside any transaction; the verdict is then applied in a short
transaction that locks the payment row and re-checks its status, so a webhook, the sweep and
the customer's own request can race without harm (``apply_card_result`` is idempotent).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from payments import audit, crashpoints, review, service, states
from payments.db import utcnow
from payments.gateway import CardGateway, CardResult, CardStatus, GatewayError
from payments.models import Payment, TenderKind, TenderLine
from payments.models import PaymentStatus as S

log = logging.getLogger(__name__)

IN_FLIGHT = (S.CREATED.value, S.AWAITING_CARD.value, S.PROCESSING.value)
ABANDON_AFTER = dt.timedelta(minutes=15)
ABANDONED = ("abandoned", "The card payment was not completed and has been canceled.")

GatewaySource = CardGateway | Callable[[Session], CardGateway]


@dataclass(frozen=True)
class Verdict:
    kind: str  # complete | fail | cancel | review | pending
    result: CardResult | None = None
    reason: str | None = None
    intents: tuple[str, ...] = ()


@dataclass
class SweepReport:
    checked: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    unmatched: int = 0  # charges at the processor without a payment of ours to show for them

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@dataclass(frozen=True)
class _Snapshot:
    id: str
    status: str
    created_at: dt.datetime
    intent_id: str | None
    reader_id: str | None
    card_cents: int


def _attempts(gateway: CardGateway, snap: _Snapshot) -> list[CardResult]:
    find_all = getattr(gateway, "find_all", None)
    if find_all is not None:
        results = list(find_all(snap.id))
    else:
        found = gateway.find(snap.id)
        results = [found] if found is not None else []
    known = {r.intent_id for r in results}
    if snap.intent_id and snap.intent_id not in known:
        results.append(gateway.poll(snap.id, snap.intent_id, snap.reader_id))
    return results


def assess(
    gateway: CardGateway, snap: _Snapshot, *, now: dt.datetime, abandon_after: dt.timedelta | None
) -> Verdict:
    """Decide what the payment's local state must become (may cancel at the processor)."""
    results = _attempts(gateway, snap)
    intents = tuple(r.intent_id for r in results if r.intent_id)
    paid = [r for r in results if r.status == CardStatus.SUCCEEDED]
    if len(paid) > 1:
        return Verdict("review", reason="several succeeded card attempts", intents=intents)
    if paid:
        if paid[0].amount_cents is not None and paid[0].amount_cents != snap.card_cents:
            return Verdict(
                "review",
                reason=f"charged {paid[0].amount_cents} cents, card tender is {snap.card_cents}",
                intents=intents,
            )
        for other in results:
            if other is not paid[0] and other.status == CardStatus.PENDING:
                gateway.cancel(snap.id, other.intent_id, None)  # a stray second intent
        return Verdict("complete", paid[0], intents=intents)
    pending = [r for r in results if r.status == CardStatus.PENDING]
    if not pending and results:
        newest = results[0] if snap.intent_id is None else _by_intent(results, snap.intent_id)
        kind = "fail" if newest.status == CardStatus.FAILED else "cancel"
        return Verdict(kind, newest, intents=intents)
    if abandon_after is None or snap.created_at > now - abandon_after:
        return Verdict("pending", intents=intents)
    for attempt in pending:
        outcome = gateway.cancel(snap.id, attempt.intent_id, snap.reader_id)
        if outcome.status == CardStatus.SUCCEEDED:  # approved while we were canceling
            return Verdict("complete", outcome, intents=intents)
    code, message = ABANDONED
    result = CardResult(CardStatus.CANCELED, failure_code=code, failure_message=message)
    return Verdict("cancel", result, reason="abandoned", intents=intents)


def _by_intent(results: list[CardResult], intent_id: str) -> CardResult:
    return next((r for r in results if r.intent_id == intent_id), results[0])


def apply_verdict(
    session: Session, payment: Payment, verdict: Verdict, *, actor: str, now: dt.datetime
) -> str:
    """Bring the locked payment row in line with the verdict; returns the outcome name."""
    if payment.status not in IN_FLIGHT or verdict.kind == "pending":
        return "unchanged" if payment.status not in IN_FLIGHT else "pending"
    if verdict.kind == "review":
        flag_for_review(
            session, payment, verdict.reason or "ambiguous", actor=actor, intents=verdict.intents
        )
        return "needs_review"
    result = verdict.result
    assert result is not None
    if verdict.kind == "complete":
        if payment.processor_intent_id not in (None, result.intent_id):
            service.replace_intent(session, payment, result.intent_id, actor=actor)
        if payment.status == S.CREATED:
            states.transition(
                session, payment, S.AWAITING_CARD, actor=actor, details={"recovered": True}
            )
        service.apply_card_result(session, payment, result, actor=actor, now=now)
        return "completed"
    if payment.status == S.CREATED:
        # Never handed over in a committed transaction: close it without the card steps.
        payment.failure_code, payment.failure_message = result.failure_code, result.failure_message
        target = S.FAILED if verdict.kind == "fail" else S.CANCELED
        states.transition(
            session,
            payment,
            target,
            actor=actor,
            details={"code": result.failure_code, "recovered": True},
        )
    else:
        if result.status == CardStatus.CANCELED and not result.failure_code:
            result = CardResult(
                CardStatus.CANCELED,
                intent_id=result.intent_id,
                failure_code="canceled",
                failure_message="The payment was canceled.",
            )
        service.apply_card_result(session, payment, result, actor=actor, now=now)
    return "failed" if verdict.kind == "fail" else "canceled"


def flag_for_review(
    session: Session, payment: Payment, reason: str, *, actor: str, intents: tuple[str, ...] = ()
) -> None:
    """Mark a payment for staff (once), with the reason in the audit log."""
    if payment.needs_review:
        return
    payment.needs_review = True
    audit.record(
        session,
        "payment.needs_review",
        actor=actor,
        entity="payment",
        entity_id=payment.id,
        office_id=payment.office_id,
        details={"reason": reason, "intents": list(intents)},
    )


def _resolve(gateway: GatewaySource, session: Session) -> CardGateway:
    if not isinstance(gateway, type) and hasattr(gateway, "find") and hasattr(gateway, "poll"):
        return gateway  # type: ignore[return-value]
    return gateway(session)  # type: ignore[operator]


def _snapshot(payment: Payment) -> _Snapshot | None:
    cents = service.card_amount(payment)
    if cents is None:
        return None
    return _Snapshot(
        payment.id,
        payment.status,
        payment.created_at,
        payment.processor_intent_id,
        payment.reader_id,
        cents,
    )


def settle_payment(
    sessions: sessionmaker[Session],
    payment_id: str,
    gateway: GatewaySource,
    *,
    now: dt.datetime | None = None,
    abandon_after: dt.timedelta | None = None,
    actor: str = "recovery",
) -> str:
    """Settle one card payment from the processor's state, in its own transaction."""
    now = now or utcnow()
    with sessions() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            return "unknown"
        if payment.status not in IN_FLIGHT or payment.needs_review:
            return "unchanged"
        snap = _snapshot(payment)
        if snap is None:
            return "unchanged"
        gw = _resolve(gateway, session)
        if getattr(gw, "session", None) is session:
            # A gateway kept in our own database (the simulated reader): one transaction.
            payment = service.get_payment(session, payment_id, lock=True)
            verdict = assess(gw, snap, now=now, abandon_after=abandon_after)
            return _apply_and_commit(session, payment, verdict, actor=actor, now=now)
        session.rollback()  # no transaction (and no SQLite write lock) across network calls
    verdict = assess(gw, snap, now=now, abandon_after=abandon_after)
    with sessions() as session:
        payment = service.get_payment(session, payment_id, lock=True)
        return _apply_and_commit(session, payment, verdict, actor=actor, now=now)


def _apply_and_commit(
    session: Session, payment: Payment, verdict: Verdict, *, actor: str, now: dt.datetime
) -> str:
    outcome = apply_verdict(session, payment, verdict, actor=actor, now=now)
    crashpoints.reach("settle.before_commit")
    session.commit()
    crashpoints.reach("settle.after_commit")
    return outcome


def sweep(
    sessions: sessionmaker[Session],
    gateway: GatewaySource,
    *,
    now: dt.datetime | None = None,
    abandon_after: dt.timedelta = ABANDON_AFTER,
    limit: int = 500,
    actor: str = "recovery",
) -> SweepReport:
    """Settle every card payment left in flight (oldest first, up to ``limit``)."""
    now = now or utcnow()
    report = SweepReport()
    with sessions() as session:
        ids = session.scalars(
            select(Payment.id)
            .where(
                Payment.status.in_(IN_FLIGHT),
                Payment.needs_review.is_(False),
                exists().where(
                    TenderLine.payment_id == Payment.id, TenderLine.kind == TenderKind.CARD.value
                ),
            )
            .order_by(Payment.created_at)
            .limit(limit)
        ).all()
        session.rollback()
    for payment_id in ids:
        report.checked += 1
        try:
            outcome = settle_payment(
                sessions, payment_id, gateway, now=now, abandon_after=abandon_after, actor=actor
            )
        except GatewayError as exc:
            log.warning(
                "recovery: payment %s not settled: %s (%s)", payment_id, exc.message, exc.code
            )
            report.errors += 1
            continue
        except Exception:  # noqa: BLE001 - one bad payment must not stop the sweep
            log.exception("recovery: payment %s not settled", payment_id)
            report.errors += 1
            continue
        report.count(outcome)
    try:
        report.unmatched = check_charges(sessions, gateway, actor=actor, now=now)
    except GatewayError as exc:
        log.warning("recovery: charges not checked: %s (%s)", exc.message, exc.code)
        report.errors += 1
    if report.checked or report.unmatched:
        log.info("recovery sweep: %s", _summary(report))
    return report


def check_charges(
    sessions: sessionmaker[Session],
    gateway: GatewaySource,
    *,
    actor: str = "recovery",
    now: dt.datetime | None = None,
) -> int:
    """Match every recent charge at the processor to one completed payment of ours.

    A charge whose payment is missing (its transaction never committed), was given up
    (failed/canceled) or completed with another charge is flagged for staff and audited once.
    Payments still in flight are the sweep's business. Returns how many charges are unmatched.
    """
    with sessions() as session:
        gw = _resolve(gateway, session)
        recent = getattr(gw, "recent_attempts", None)
        if recent is None:
            return 0
        session.rollback()
    paid = [r for r in recent() if r.status == CardStatus.SUCCEEDED and r.payment_id]
    unmatched = 0
    with sessions() as session:
        for result in paid:
            payment = session.get(Payment, result.payment_id)
            if payment is not None and payment.status in IN_FLIGHT:
                continue
            if payment is not None and payment.processor_charge_id == result.charge_id:
                continue
            if payment is not None and result.intent_id in review.reviewed_intents(
                session, payment.id
            ):
                continue  # staff accounted for it (refunded, or the payment's own)
            unmatched += 1
            if payment is None:
                _audit_unmatched(session, result, actor=actor)
            elif payment.status in (S.FAILED.value, S.CANCELED.value):
                service.apply_card_result(session, payment, result, actor=actor, now=now)
            else:
                flag_for_review(
                    session,
                    payment,
                    f"a second charge {result.charge_id} for this payment",
                    actor=actor,
                    intents=(payment.processor_intent_id or "", result.intent_id or ""),
                )
        session.commit()
    return unmatched


def _audit_unmatched(session: Session, result: CardResult, *, actor: str) -> None:
    seen = session.scalar(
        select(audit.AuditEvent.seq).where(
            audit.AuditEvent.action == "card.unmatched_charge",
            audit.AuditEvent.entity_id == result.intent_id,
        )
    )
    if seen is None:
        audit.record(
            session,
            "card.unmatched_charge",
            actor=actor,
            entity="payment_intent",
            entity_id=result.intent_id,
            details={
                "payment_id": result.payment_id,
                "charge": result.charge_id,
                "amount_cents": result.amount_cents,
            },
        )


def _summary(report: SweepReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "errors": report.errors,
        "unmatched": report.unmatched,
        **report.outcomes,
    }
