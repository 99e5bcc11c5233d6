"""Counter queue and visit pages (cashiers, supervisors): the waiting list with "Call next",
calling a particular number, recall, no-show and transfer, the current visit panel (reasons,
outcome, notes, "Finish visit"), walk-ins, and today's visit log.

Plain forms (POST, then redirect). Each form carries a one-time key so a double press of
"Call next" calls one ticket, not two (kiosk.queue remembers the key)."""

from __future__ import annotations

import datetime as dt
import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk import db, vocabulary
from kiosk import queue as queue_service
from kiosk.access import access
from kiosk.api.common import actor, caller_office_id
from kiosk.models import QueueTicket, StaffUser, Station, Visit
from kiosk.security import current_principal
from payments.db import OFFICE_TZ, business_date, office_time, utcnow

bp = Blueprint("counter_queue", __name__)

SERVICE_LABELS = {
    "billing": "Billing and payments",
    "start_stop": "Start or stop service",
    "other": "Other questions",
}
LANGUAGE_LABELS = {"en": "English", "es": "Spanish", "vi": "Vietnamese"}


def _counter(session) -> queue_service.Counter | None:
    office_id = caller_office_id()
    if office_id is None:
        return None
    principal = current_principal()
    return queue_service.Counter(office_id, principal.station_id, principal.user_id, actor())


def _key() -> str | None:
    key = (request.form.get("key") or "").strip()
    return key[:128] or None


def _act(action, success, back: str = "counter_queue.index"):
    """Run one queue action in one transaction, flash the outcome, go back to the page."""
    session = db.session()
    who = _counter(session)
    if who is None:
        flash("This station or user belongs to no office.")
        return redirect(url_for(back)), 303
    try:
        result = action(session, who)
        session.commit()
    except queue_service.QueueError as exc:
        session.rollback()
        flash(exc.message)
        return redirect(url_for(back)), 303
    except IntegrityError:  # the same form sent twice at the same moment
        session.rollback()
        flash("That was already done.")
        return redirect(url_for(back)), 303
    flash(success(result))
    return redirect(url_for(back)), 303


def _called(result: queue_service.QueueResult) -> str:
    t = result.ticket
    again = " (already called)" if result.replayed else ""
    return (
        f"Calling {t.number}{again}: {SERVICE_LABELS.get(t.service, t.service)}, "
        f"speaks {LANGUAGE_LABELS.get(t.language, t.language)}."
    )


def _stations(session, office_id: int, exclude: int | None) -> list[Station]:
    return list(
        session.scalars(
            select(Station)
            .where(
                Station.office_id == office_id,
                Station.kind == "counter",
                Station.active.is_(True),
                Station.id != (exclude or 0),
            )
            .order_by(Station.name)
        )
    )


def _visit_panel(session, who: queue_service.Counter) -> dict | None:
    visit = queue_service.current_visit(session, who.station_id)
    if visit is None:
        return None
    ticket = session.get(QueueTicket, visit.ticket_id) if visit.ticket_id else None
    return {
        "visit": visit,
        "ticket": ticket,
        "language": LANGUAGE_LABELS.get(visit.language, visit.language),
        "checked": set(_codes(visit)),
        "started": office_time(visit.started_at),
        "started_iso": visit.started_at.isoformat(),
        "waited": (
            queue_service.minutes_between(ticket.issued_at, visit.called_at) if ticket else None
        ),
    }


def _vocabulary() -> dict:
    groups: dict[str, list] = {c: [] for c in vocabulary.CATEGORIES}
    for term in vocabulary.reasons():
        groups[term.category].append(term)
    return {"reason_groups": groups, "outcomes": vocabulary.outcomes()}


@bp.route("/queue", methods=["GET"])
@access("cashier", "supervisor")
def index():
    session = db.session()
    who = _counter(session)
    station = session.get(Station, who.station_id) if who and who.station_id else None
    waiting = queue_service.waiting_list(session, who.office_id) if who else []
    serving = queue_service.now_serving(session, who.office_id, limit=20) if who else []
    return render_template(
        "counter_queue/queue.html",
        station=station,
        waiting=waiting,
        serving=serving,
        panel=_visit_panel(session, who) if station else None,
        stations=_stations(session, who.office_id, who.station_id) if who else [],
        services=SERVICE_LABELS,
        languages=LANGUAGE_LABELS,
        key=uuid.uuid4().hex,
        **_vocabulary(),
    )


@bp.route("/queue/next", methods=["POST"])
@access("cashier", "supervisor")
def call_next():
    return _act(lambda s, who: queue_service.call_next(s, who, key=_key()), _called)


@bp.route("/queue/call", methods=["POST"])
@access("cashier", "supervisor")
def call_number():
    """Call a particular ticket by its number, as typed ("b7" or "B007")."""
    number = (request.form.get("number") or "").strip()

    def action(session, who):
        ticket = queue_service.find_ticket(session, who.office_id, number)
        if ticket is None:
            raise queue_service.QueueError(
                "ticket_not_found", f"No ticket {number or '(blank)'} today. Check the number."
            )
        return queue_service.call_ticket(session, who, ticket.id, key=_key())

    return _act(action, _called)


@bp.route("/queue/<int:ticket_id>/call", methods=["POST"])
@access("cashier", "supervisor")
def call_ticket(ticket_id: int):
    return _act(lambda s, who: queue_service.call_ticket(s, who, ticket_id, key=_key()), _called)


@bp.route("/queue/<int:ticket_id>/recall", methods=["POST"])
@access("cashier", "supervisor")
def recall(ticket_id: int):
    return _act(
        lambda s, who: queue_service.recall(s, who, ticket_id, key=_key()),
        lambda r: f"{r.ticket.number} announced again on the lobby screen.",
    )


@bp.route("/queue/<int:ticket_id>/no-show", methods=["POST"])
@access("cashier", "supervisor")
def no_show(ticket_id: int):
    return _act(
        lambda s, who: queue_service.no_show(s, who, ticket_id, key=_key()),
        lambda r: f"{r.ticket.number} marked as a no-show.",
    )


@bp.route("/queue/<int:ticket_id>/transfer", methods=["POST"])
@access("cashier", "supervisor")
def transfer(ticket_id: int):
    raw_station = (request.form.get("station_id") or "").strip()
    station_id: object = int(raw_station) if raw_station.isdigit() else (raw_station or None)

    def done(result: queue_service.QueueResult) -> str:
        t = result.ticket
        where = SERVICE_LABELS.get(t.service, t.service)
        if t.for_station_id:
            where += f" at {db.session().get(Station, t.for_station_id).name}"
        return f"{t.number} transferred to {where}; it waits with its first arrival time."

    return _act(
        lambda s, who: queue_service.transfer(
            s,
            who,
            ticket_id,
            service=request.form.get("service") or None,
            station_id=station_id,
            key=_key(),
        ),
        done,
    )


@bp.route("/visits/walk-in", methods=["GET", "POST"])
@access("cashier", "supervisor")
def walk_in():
    """Serve someone without a ticket: GET shows the short form, POST starts the visit."""
    if request.method == "GET":
        return render_template(
            "counter_queue/walk_in.html",
            languages=LANGUAGE_LABELS,
            key=uuid.uuid4().hex,
            **_vocabulary(),
        )
    return _act(
        lambda s, who: queue_service.walk_in(
            s,
            who,
            language=request.form.get("language") or "en",
            reasons=request.form.getlist("reasons"),
            key=_key(),
        ),
        lambda r: "Walk-in visit started." if not r.replayed else "The walk-in visit is open.",
    )


@bp.route("/visits/<visit_id>/finish", methods=["POST"])
@access("cashier", "supervisor")
def finish(visit_id: str):
    def done(result: queue_service.QueueResult) -> str:
        what = f"Ticket {result.ticket.number}" if result.ticket else "Walk-in visit"
        label = vocabulary.label(result.visit.outcome_code)
        return f"{what} finished: {label}. Ready for the next customer."

    return _act(
        lambda s, who: queue_service.finish(
            s,
            who,
            visit_id,
            reasons=request.form.getlist("reasons"),
            outcome=request.form.get("outcome") or None,
            notes=request.form.get("notes"),
            key=_key(),
        ),
        done,
    )


@bp.route("/visits", methods=["GET"])
@access("cashier", "supervisor")
def visit_log():
    """Today's counter visits in this office, newest first, with the open one at this counter."""
    session = db.session()
    who = _counter(session)
    rows = []
    if who is not None:
        day_start = dt.datetime.combine(business_date(), dt.time(0), tzinfo=OFFICE_TZ)
        visits = session.scalars(
            select(Visit)
            .where(
                Visit.office_id == who.office_id,
                Visit.channel == "counter",
                Visit.started_at >= day_start.astimezone(dt.UTC),
            )
            .order_by(Visit.started_at.desc())
            .limit(500)
        ).all()
        tickets = _by_id(session, QueueTicket, {v.ticket_id for v in visits if v.ticket_id})
        stations = _by_id(session, Station, {v.station_id for v in visits if v.station_id})
        staff = _by_id(session, StaffUser, {v.staff_user_id for v in visits if v.staff_user_id})
        for v in visits:
            rows.append(
                {
                    "ticket": tickets[v.ticket_id].number if v.ticket_id else "walk-in",
                    "counter": stations[v.station_id].name if v.station_id else "—",
                    "staff": staff[v.staff_user_id].full_name if v.staff_user_id else "—",
                    "language": LANGUAGE_LABELS.get(v.language, v.language),
                    "reasons": [vocabulary.label(c) for c in _codes(v)],
                    "outcome": vocabulary.label(v.outcome_code) if v.outcome_code else "open",
                    "called": office_time(v.called_at),
                    "started": office_time(v.started_at),
                    "ended": office_time(v.ended_at),
                    "minutes": queue_service.minutes_between(
                        v.called_at or v.started_at, v.ended_at or utcnow()
                    ),
                    "notes": v.notes or "",
                }
            )
    station = session.get(Station, who.station_id) if who and who.station_id else None
    return render_template(
        "counter_queue/visits.html",
        rows=rows,
        station=station,
        panel=_visit_panel(session, who) if station else None,
        stations=_stations(session, who.office_id, who.station_id) if who else [],
        services=SERVICE_LABELS,
        key=uuid.uuid4().hex,
        **_vocabulary(),
    )


def _codes(visit: Visit) -> list[str]:
    return [c for c in (visit.reason_codes or "").split(",") if c]


def _by_id(session, model, ids: set) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}
