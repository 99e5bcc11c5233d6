"""The counter queue: tickets (a number per office and business day, "B012", the language for
the clerk, an estimated wait), the waiting list, calling, recall, no-show, transfer, walk-ins
and the counter visit each call starts.

A ticket is ``waiting``, then ``called`` (a counter called it: a counter visit is open), then
``done`` (the visit finished) or ``no_show``. A transfer ends the visit (outcome
``transferred``) and puts the ticket back to ``waiting`` with its first arrival time, for
another service or for one counter only. Every change is audited; a finished visit goes to
the CIS through the outbox (``kiosk.visits.end_visit``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiosk import visits, vocabulary
from kiosk.models import QueueRequest, QueueTicket, Station, Visit
from payments import audit
from payments.db import business_date, utcnow

# service -> number prefix and the reason code it records on the visit
SERVICES = {
    "billing": ("B", "billing.question"),
    "start_stop": ("S", "service.start_stop"),
    "other": ("G", "information.other"),  # not O: it reads as a zero
}
# The one table that orders the counter's waiting list: lower is called first, then by
# arrival. Payments are quick, so billing goes first; change it here and only here.
SERVICE_PRIORITY = {"billing": 1, "start_stop": 2, "other": 3}
LANGUAGES = ("en", "es", "vi")
DEFAULT_MINUTES_PER_CUSTOMER = 6
MAX_NOTES = 2000

WAITING, CALLED, DONE, NO_SHOW = "waiting", "called", "done", "no_show"


class QueueError(ValueError):
    """A refused queue request; ``status`` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class IssuedTicket:
    ticket: QueueTicket
    waiting_ahead: int
    estimated_wait_minutes: int

    @property
    def number(self) -> str:
        return self.ticket.number


def waiting_count(session: Session, office_id: int, day) -> int:
    return session.scalar(
        select(func.count(QueueTicket.id)).where(
            QueueTicket.office_id == office_id,
            QueueTicket.business_date == day,
            QueueTicket.status == "waiting",
        )
    )


def issue_ticket(
    session: Session,
    *,
    office_id: int,
    service: str,
    language: str = "en",
    account_id: int | None = None,
    station_id: int | None = None,
    minutes_per_customer: int = DEFAULT_MINUTES_PER_CUSTOMER,
) -> IssuedTicket:
    """Take the next number for ``service`` today. Two kiosks at once never share a number:
    the unique (office, day, number) constraint decides and the loser takes the next one."""
    if service not in SERVICES:
        raise QueueError("bad_service", f"service must be one of {', '.join(SERVICES)}")
    if language not in LANGUAGES:
        raise QueueError("bad_language", f"language must be one of {', '.join(LANGUAGES)}")
    prefix = SERVICES[service][0]
    day = business_date()
    ahead = waiting_count(session, office_id, day)
    for _attempt in range(20):
        last = session.scalar(
            select(func.max(QueueTicket.number)).where(
                QueueTicket.office_id == office_id,
                QueueTicket.business_date == day,
                QueueTicket.number.like(f"{prefix}%"),
            )
        )
        seq = int(last[1:]) + 1 if last else 1
        ticket = QueueTicket(
            office_id=office_id,
            business_date=day,
            number=f"{prefix}{seq:03d}",
            service=service,
            language=language,
            account_id=account_id,
            station_id=station_id,
        )
        try:
            with session.begin_nested():
                session.add(ticket)
        except IntegrityError:
            continue
        return IssuedTicket(ticket, ahead, ahead * max(minutes_per_customer, 0))
    raise QueueError("busy", "Could not take a number; please try again.")


# -- the waiting list ------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitingTicket:
    id: int
    number: str
    service: str
    language: str
    minutes_waited: int
    for_station_id: int | None
    for_station: str | None


def _priority():
    return case(SERVICE_PRIORITY, value=QueueTicket.service, else_=len(SERVICE_PRIORITY) + 1)


def _waiting_query(office_id: int, day: dt.date):
    return (
        select(QueueTicket)
        .where(
            QueueTicket.office_id == office_id,
            QueueTicket.business_date == day,
            QueueTicket.status == WAITING,
        )
        .order_by(_priority(), QueueTicket.issued_at, QueueTicket.id)
    )


def minutes_between(since: dt.datetime | None, now: dt.datetime) -> int:
    """Whole minutes from ``since`` to ``now`` (0 when unknown or negative)."""
    return 0 if since is None else max(0, int((now - since).total_seconds() // 60))


def waiting_list(
    session: Session, office_id: int, *, now: dt.datetime | None = None, limit: int = 200
) -> list[WaitingTicket]:
    """Today's waiting tickets in the order "Call next" takes them: service priority, then
    arrival. Tickets transferred to one counter are listed too, named with that counter."""
    now = now or utcnow()
    tickets = session.scalars(_waiting_query(office_id, business_date(now)).limit(limit)).all()
    names = _station_names(session, {t.for_station_id for t in tickets if t.for_station_id})
    return [
        WaitingTicket(
            t.id,
            t.number,
            t.service,
            t.language,
            minutes_between(t.issued_at, now),
            t.for_station_id,
            names.get(t.for_station_id),
        )
        for t in tickets
    ]


def _station_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Station.id, Station.name).where(Station.id.in_(ids)))
    return {row.id: row.name for row in rows}


@dataclass(frozen=True)
class Serving:
    number: str
    counter: str
    announced_at: dt.datetime | None


def now_serving(session: Session, office_id: int, *, limit: int = 8) -> list[Serving]:
    """Tickets at a counter now, the latest announced first (for the lobby screen)."""
    rows = session.execute(
        select(QueueTicket.number, QueueTicket.announced_at, Station.name)
        .join(Station, Station.id == QueueTicket.station_id)
        .where(
            QueueTicket.office_id == office_id,
            QueueTicket.business_date == business_date(),
            QueueTicket.status == CALLED,
        )
        .order_by(QueueTicket.announced_at.desc(), QueueTicket.id.desc())
        .limit(limit)
    )
    return [Serving(r.number, r.name, r.announced_at) for r in rows]


def next_numbers(session: Session, office_id: int, *, limit: int = 6) -> list[str]:
    """The next waiting numbers, in calling order (no personal data: numbers only)."""
    query = _waiting_query(office_id, business_date()).with_only_columns(QueueTicket.number)
    return list(session.scalars(query.limit(limit)))


def current_visit(session: Session, station_id: int | None) -> Visit | None:
    """The counter visit open at a station, if any."""
    if station_id is None:
        return None
    return session.scalars(
        select(Visit)
        .where(
            Visit.channel == "counter",
            Visit.station_id == station_id,
            Visit.ended_at.is_(None),
        )
        .order_by(Visit.started_at.desc())
    ).first()


def note_account(
    session: Session, station_id: int | None, account_id: int | None, *, paid: bool = False
) -> Visit | None:
    """The one rule for which account a counter visit is about: while a visit is open at the
    cashier's station, opening an account page names the account if none is named yet, and
    taking a payment names the account paid (it wins over an account only looked at).
    Returns the visit changed, if any."""
    if account_id is None:
        return None
    visit = current_visit(session, station_id)
    if visit is None or visit.account_id == account_id:
        return None
    if visit.account_id is not None and not paid:
        return None
    visit.account_id = account_id
    session.flush()
    return visit


# -- counter actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Counter:
    """Who acts: the office, the counter station and the staff member (named in the audit)."""

    office_id: int
    station_id: int | None
    staff_user_id: int | None
    actor: str


@dataclass(frozen=True)
class QueueResult:
    ticket: QueueTicket | None
    visit: Visit | None
    replayed: bool = False


def _serialize(session: Session) -> None:
    """Take the audit log's lock first, as payments and drawers do (one lock order)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit._PG_LOCK_KEY})


def _fingerprint(action: str, params: dict[str, Any]) -> str:
    raw = json.dumps([action, params], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _replay(
    session: Session, key: str | None, action: str, params: dict[str, Any]
) -> QueueResult | None:
    """The earlier answer to a request with this idempotency key, or None when it is new."""
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or len(key) > 128 or not key.isprintable():
        raise QueueError("bad_idempotency_key", "An idempotency key of 1-128 characters.")
    seen = session.scalars(select(QueueRequest).where(QueueRequest.idempotency_key == key)).first()
    if seen is None:
        return None
    if seen.action != action or seen.fingerprint != _fingerprint(action, params):
        raise QueueError(
            "idempotency_conflict", "This idempotency key was already used differently.", 409
        )
    ticket = session.get(QueueTicket, seen.ticket_id) if seen.ticket_id else None
    visit = session.get(Visit, seen.visit_id) if seen.visit_id else None
    return QueueResult(ticket, visit, replayed=True)


def _remember(
    session: Session, key: str | None, action: str, params: dict[str, Any], result: QueueResult
) -> QueueResult:
    if key is not None:
        session.add(
            QueueRequest(
                idempotency_key=key,
                action=action,
                fingerprint=_fingerprint(action, params),
                ticket_id=result.ticket.id if result.ticket else None,
                visit_id=result.visit.id if result.visit else None,
            )
        )
        session.flush()
    return result


def _audit(session: Session, who: Counter, action: str, ticket: QueueTicket | None, **details):
    if ticket is not None:
        details = {"number": ticket.number, "service": ticket.service, **details}
    audit.record(
        session,
        action,
        actor=who.actor,
        entity="queue_ticket" if ticket is not None else "visit",
        entity_id=ticket.id if ticket is not None else details.get("visit_id"),
        office_id=who.office_id,
        details={"station_id": who.station_id, **details},
    )


def _require_station(session: Session, who: Counter) -> Station:
    station = session.get(Station, who.station_id) if who.station_id is not None else None
    if station is None or station.kind != "counter" or station.office_id != who.office_id:
        raise QueueError("no_station", "Call customers from a paired counter station.")
    return station


def _require_free(session: Session, who: Counter) -> None:
    open_visit = current_visit(session, who.station_id)
    if open_visit is not None:
        raise QueueError(
            "visit_open", "Finish the visit at this counter before starting another one.", 409
        )


def _ticket(session: Session, who: Counter, ticket_id: object) -> QueueTicket:
    ticket = None
    if isinstance(ticket_id, int) and not isinstance(ticket_id, bool):
        ticket = session.get(QueueTicket, ticket_id, populate_existing=True)
    if ticket is None or ticket.office_id != who.office_id:
        raise QueueError("ticket_not_found", "No such ticket in this office.", 404)
    return ticket


def find_ticket(session: Session, office_id: int, number: str) -> QueueTicket | None:
    """Today's ticket with this number ("b7" finds "B007")."""
    number = (number or "").strip().upper()
    if len(number) >= 2 and number[0].isalpha() and number[1:].isdigit():
        number = f"{number[0]}{int(number[1:]):03d}"
    return session.scalars(
        select(QueueTicket).where(
            QueueTicket.office_id == office_id,
            QueueTicket.business_date == business_date(),
            QueueTicket.number == number,
        )
    ).first()


def _start_ticket_visit(session: Session, who: Counter, ticket: QueueTicket, now) -> Visit:
    visit = visits.start_visit(
        session,
        office_id=who.office_id,
        channel="counter",
        station_id=who.station_id,
        language=ticket.language,
    )
    visit.staff_user_id = who.staff_user_id
    visit.ticket_id = ticket.id
    visit.account_id = ticket.account_id
    visit.called_at = now
    visit.started_at = now
    visits.add_reason(visit, SERVICES[ticket.service][1])
    session.flush()
    return visit


def _claim(session: Session, who: Counter, ticket_id: int, now: dt.datetime) -> bool:
    """Take a waiting ticket for this counter; False when someone else got it first."""
    taken = session.execute(
        update(QueueTicket)
        .where(QueueTicket.id == ticket_id, QueueTicket.status == WAITING)
        .values(
            status=CALLED,
            station_id=who.station_id,
            called_at=now,
            served_at=now,
            announced_at=now,
            for_station_id=None,
        )
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def call_next(session: Session, who: Counter, *, key: str | None = None) -> QueueResult:
    """Call the first waiting ticket (service priority, then arrival) this counter may take.
    Two counters calling at once never get the same ticket: the claim is a conditional
    UPDATE ... WHERE status = 'waiting', and the loser moves on to the next ticket."""
    params = {"station_id": who.station_id}
    _serialize(session)
    if (done := _replay(session, key, "call_next", params)) is not None:
        return done
    _require_station(session, who)
    _require_free(session, who)
    now = utcnow()
    for _attempt in range(10):
        candidates = session.scalars(
            _waiting_query(who.office_id, business_date(now))
            .where(
                (QueueTicket.for_station_id.is_(None))
                | (QueueTicket.for_station_id == who.station_id)
            )
            .with_only_columns(QueueTicket.id)
            .limit(5)
        ).all()
        if not candidates:
            raise QueueError("queue_empty", "Nobody is waiting.", 409)
        for ticket_id in candidates:
            if _claim(session, who, ticket_id, now):
                ticket = session.get(QueueTicket, ticket_id, populate_existing=True)
                visit = _start_ticket_visit(session, who, ticket, now)
                _audit(session, who, "queue.call", ticket, visit_id=visit.id, how="next")
                return _remember(session, key, "call_next", params, QueueResult(ticket, visit))
    raise QueueError("busy", "The queue is busy; please try again.", 409)


def call_ticket(
    session: Session,
    who: Counter,
    ticket_id: object,
    *,
    reasons: object = None,
    key: str | None = None,
) -> QueueResult:
    """Call one particular waiting ticket (out of turn, e.g. a ticket transferred here).
    ``reasons``, when given, replace the reason the ticket's service suggests."""
    params = {"station_id": who.station_id, "ticket_id": ticket_id, "reasons": reasons}
    _serialize(session)
    if (done := _replay(session, key, "call", params)) is not None:
        return done
    codes = _reason_list(reasons) if reasons is not None else None
    _require_station(session, who)
    ticket = _ticket(session, who, ticket_id)
    _require_free(session, who)
    now = utcnow()
    if ticket.business_date != business_date(now) or not _claim(session, who, ticket.id, now):
        raise QueueError("not_waiting", f"Ticket {ticket.number} is not waiting.", 409)
    ticket = session.get(QueueTicket, ticket.id, populate_existing=True)
    visit = _start_ticket_visit(session, who, ticket, now)
    if codes is not None:
        visit.reason_codes = ",".join(codes)
    _audit(session, who, "queue.call", ticket, visit_id=visit.id, how="specific")
    return _remember(session, key, "call", params, QueueResult(ticket, visit))


def _open_visit_of(session: Session, ticket: QueueTicket) -> Visit | None:
    return session.scalars(
        select(Visit).where(Visit.ticket_id == ticket.id, Visit.ended_at.is_(None))
    ).first()


def _require_called(ticket: QueueTicket, who: Counter) -> None:
    """A called ticket, at the caller's counter (a desk without a station may act on any)."""
    if ticket.status != CALLED:
        raise QueueError("not_called", f"Ticket {ticket.number} is not at a counter.", 409)
    if who.station_id is not None and ticket.station_id != who.station_id:
        raise QueueError(
            "other_counter", f"Ticket {ticket.number} is being served at another counter.", 409
        )


def recall(
    session: Session, who: Counter, ticket_id: object, *, key: str | None = None
) -> QueueResult:
    """Announce a called ticket again on the lobby screen."""
    params = {"ticket_id": ticket_id}
    _serialize(session)
    if (done := _replay(session, key, "recall", params)) is not None:
        return done
    ticket = _ticket(session, who, ticket_id)
    _require_called(ticket, who)
    ticket.announced_at = utcnow()
    _audit(session, who, "queue.recall", ticket)
    return _remember(
        session, key, "recall", params, QueueResult(ticket, _open_visit_of(session, ticket))
    )


def no_show(
    session: Session, who: Counter, ticket_id: object, *, key: str | None = None
) -> QueueResult:
    """The called customer did not come: the ticket is closed and its visit ends as
    ``no_show`` (reported like any visit, so no-shows appear in the wait-time figures)."""
    params = {"ticket_id": ticket_id}
    _serialize(session)
    if (done := _replay(session, key, "no_show", params)) is not None:
        return done
    ticket = _ticket(session, who, ticket_id)
    _require_called(ticket, who)
    now = utcnow()
    ticket.status = NO_SHOW
    ticket.ended_at = now
    visit = _open_visit_of(session, ticket)
    if visit is not None:
        visit.outcome_code = "no_show"
        visits.end_visit(session, visit)
    _audit(session, who, "queue.no_show", ticket, visit_id=visit.id if visit else None)
    return _remember(session, key, "no_show", params, QueueResult(ticket, visit))


def transfer(
    session: Session,
    who: Counter,
    ticket_id: object,
    *,
    service: object = None,
    station_id: object = None,
    key: str | None = None,
) -> QueueResult:
    """Send a ticket to another service and/or one other counter. It waits again with its
    first arrival time, so the customer does not go to the back of the line. A visit open for
    it ends with the outcome ``transferred`` and the reasons noted so far."""
    params = {"ticket_id": ticket_id, "service": service, "station_id": station_id}
    _serialize(session)
    if (done := _replay(session, key, "transfer", params)) is not None:
        return done
    ticket = _ticket(session, who, ticket_id)
    if ticket.status not in (WAITING, CALLED):
        raise QueueError("not_transferable", f"Ticket {ticket.number} is already closed.", 409)
    if ticket.status == CALLED:
        _require_called(ticket, who)
    service = service or None
    if service is not None and service not in SERVICES:
        raise QueueError("bad_service", f"service must be one of {', '.join(SERVICES)}")
    target = None
    if station_id is not None:
        if isinstance(station_id, bool) or not isinstance(station_id, int):
            raise QueueError("bad_station", "station_id must be a counter station's id.")
        target = session.get(Station, station_id)
        if (
            target is None
            or target.office_id != who.office_id
            or target.kind != "counter"
            or not target.active
        ):
            raise QueueError("bad_station", "Transfer to an active counter of this office.")
    if service is None and target is None:
        raise QueueError("nothing_to_transfer", "Choose another service or another counter.")
    before = {"service": ticket.service, "for_station_id": ticket.for_station_id}
    visit = _open_visit_of(session, ticket)
    if visit is not None:
        visit.outcome_code = "transferred"
        visits.end_visit(session, visit)
    ticket.status = WAITING
    ticket.service = service or ticket.service
    ticket.for_station_id = target.id if target else None
    ticket.called_at = None
    ticket.announced_at = None
    session.flush()
    _audit(
        session,
        who,
        "queue.transfer",
        ticket,
        visit_id=visit.id if visit else None,
        before=before,
        after={"service": ticket.service, "for_station_id": ticket.for_station_id},
    )
    return _remember(session, key, "transfer", params, QueueResult(ticket, visit))


def _reason_list(reasons: object) -> list[str]:
    if reasons is None:
        return []
    if isinstance(reasons, str):
        reasons = [reasons]
    if not isinstance(reasons, list | tuple) or not all(isinstance(r, str) for r in reasons):
        raise QueueError("bad_reasons", "reasons must be a list of reason codes.")
    for code in reasons:
        try:
            vocabulary.require(code, "reason")
        except vocabulary.VocabularyError as exc:
            raise QueueError("unknown_reason", exc.message) from exc
    return list(dict.fromkeys(reasons))


def _check_outcome(outcome: object) -> str:
    if not isinstance(outcome, str) or not outcome:
        raise QueueError("outcome_required", "Choose how the visit ended (an outcome).")
    try:
        vocabulary.require(outcome, "outcome")
    except vocabulary.VocabularyError as exc:
        raise QueueError("unknown_outcome", exc.message) from exc
    return outcome


def _check_notes(notes: object) -> str | None:
    if notes is None:
        return None
    if not isinstance(notes, str):
        raise QueueError("bad_notes", "notes must be text.")
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise QueueError("notes_too_long", f"Notes may be at most {MAX_NOTES} characters.")
    return notes or None


def walk_in(
    session: Session,
    who: Counter,
    *,
    language: object = "en",
    reasons: object = None,
    account_id: object = None,
    key: str | None = None,
) -> QueueResult:
    """Serve someone who took no ticket: a counter visit without a ticket."""
    params = {"station_id": who.station_id, "language": language, "reasons": reasons}
    _serialize(session)
    if (done := _replay(session, key, "walk_in", params)) is not None:
        return done
    if language not in LANGUAGES:
        raise QueueError("bad_language", f"language must be one of {', '.join(LANGUAGES)}")
    codes = _reason_list(reasons)
    if account_id is not None and (isinstance(account_id, bool) or not isinstance(account_id, int)):
        raise QueueError("bad_account", "account_id must be an account's id.")
    _require_station(session, who)
    _require_free(session, who)
    visit = visits.start_visit(
        session,
        office_id=who.office_id,
        channel="counter",
        station_id=who.station_id,
        language=language,
    )
    visit.staff_user_id = who.staff_user_id
    visit.account_id = account_id
    for code in codes:
        visits.add_reason(visit, code)
    session.flush()
    _audit(session, who, "visit.walk_in", None, visit_id=visit.id)
    return _remember(session, key, "walk_in", params, QueueResult(None, visit))


def get_visit(session: Session, who: Counter, visit_id: object) -> Visit:
    visit = session.get(Visit, visit_id) if isinstance(visit_id, str) and visit_id else None
    if visit is None or visit.office_id != who.office_id or visit.channel != "counter":
        raise QueueError("visit_not_found", "No such counter visit in this office.", 404)
    return visit


def finish(
    session: Session,
    who: Counter,
    visit_id: object,
    *,
    reasons: object,
    outcome: object,
    notes: object = None,
    key: str | None = None,
) -> QueueResult:
    """End a counter visit with its reason codes (at least one), outcome and notes; the
    ticket is done and the visit goes to the CIS through the outbox."""
    params = {"visit_id": visit_id, "reasons": reasons, "outcome": outcome, "notes": notes}
    _serialize(session)
    if (done := _replay(session, key, "finish", params)) is not None:
        return done
    visit = get_visit(session, who, visit_id)
    if visit.ended_at is not None:
        raise QueueError("visit_ended", "This visit has already ended.", 409)
    codes = _reason_list(reasons)
    if not codes:
        raise QueueError("reason_required", "Tick at least one reason for the visit.")
    outcome = _check_outcome(outcome)
    visit.notes = _check_notes(notes)
    visit.reason_codes = ",".join(codes)
    visit.outcome_code = outcome
    if visit.staff_user_id is None:
        visit.staff_user_id = who.staff_user_id
    visits.end_visit(session, visit)
    ticket = session.get(QueueTicket, visit.ticket_id) if visit.ticket_id else None
    if ticket is not None and ticket.status == CALLED:
        ticket.status = DONE
        ticket.ended_at = visit.ended_at
    session.flush()
    _audit(
        session,
        who,
        "visit.finish",
        ticket,
        visit_id=visit.id,
        reasons=codes,
        outcome=outcome,
    )
    return _remember(session, key, "finish", params, QueueResult(ticket, visit))
