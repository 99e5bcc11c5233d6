"""Finance: the performance-measures dashboard (charts as server-drawn SVG) and its CSV.

Finance, supervisors (they run the floor) and admins may look. The office is the user's own;
a user who belongs to no office names it with ``?office=CODE`` (default: this server's office).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, current_app, render_template, request

from kiosk import db, measures
from kiosk.access import access
from kiosk.api.common import caller_office_id
from kiosk.measures_charts import arrivals_chart, hour_label, wait_chart
from payments import days
from payments.days import MAX_DAYS_BACK
from payments.db import business_date
from payments.states import PaymentError

bp = Blueprint("finance_measures", __name__)

VIEWERS = ("finance", "supervisor", "admin")


class BadInput(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def office_for_request(session) -> days.Office:
    """The caller's office, or the one named by ``?office=`` for a user of no office."""
    own = caller_office_id()
    if own is not None:
        return days.office(session, own)
    code = request.args.get("office") or current_app.config.get("OFFICE_CODE") or ""
    if not code.strip() or len(code) > 8:
        raise BadInput("office_required", "Name the office with ?office=CODE.")
    try:
        return days.office_by_code(session, code.strip().upper())
    except PaymentError as exc:
        raise BadInput("office_not_found", exc.message) from exc


def parse_period(office: days.Office) -> tuple[str, dt.date]:
    """``period`` (day, week, month; default day) and ``date`` (default today)."""
    kind = request.args.get("period") or "day"
    if kind not in measures.PERIODS:
        raise BadInput("bad_period", "The period must be day, week or month.")
    today = business_date(tz=office.tz)
    raw = request.args.get("date") or ""
    if not raw:
        return kind, today
    try:
        day = dt.date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadInput("bad_date", "The date must be YYYY-MM-DD.")
    if day > today or (today - day).days > MAX_DAYS_BACK:
        raise BadInput(
            "bad_date", "The date must be a day that has begun (and not over ten years ago)."
        )
    return kind, day


def target_minutes() -> int:
    return int(current_app.config.get("SERVICE_TARGET_MINUTES") or measures.DEFAULT_TARGET_MINUTES)


def _shift(kind: str, day: dt.date, direction: int) -> dt.date:
    period = measures.period_for(kind, day)
    if direction < 0:
        return measures.period_for(kind, period.first - dt.timedelta(days=1)).first
    return period.last + dt.timedelta(days=1)


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds // 60}:{seconds % 60:02d}"


@bp.route("/measures")
@access(*VIEWERS)
def dashboard():
    session = db.session()
    kind, day = request.args.get("period") or "day", None
    try:
        office = office_for_request(session)
        kind, day = parse_period(office)
    except BadInput as exc:
        return render_template(
            "finance/measures.html", error=str(exc), m=None, kind=kind, periods=measures.PERIODS
        ), 400
    m = measures.compute(session, office.id, kind, day, target_minutes=target_minutes())
    today = business_date(tz=office.tz)
    following = _shift(kind, day, 1)
    return render_template(
        "finance/measures.html",
        error=None,
        m=m,
        kind=kind,
        day=day,
        periods=measures.PERIODS,
        arrivals=arrivals_chart(m),
        waits=wait_chart(m),
        hour_label=hour_label,
        minutes=_minutes,
        previous=_shift(kind, day, -1).isoformat(),
        following=following.isoformat() if following <= today else None,
        office_arg=request.args.get("office") if caller_office_id() is None else None,
    )


@bp.route("/measures.csv")
@access(*VIEWERS)
def csv_download():
    session = db.session()
    try:
        office = office_for_request(session)
        kind, day = parse_period(office)
    except BadInput as exc:
        return Response(f"{exc}\n", status=400, mimetype="text/plain")
    m = measures.compute(session, office.id, kind, day, target_minutes=target_minutes())
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(measures.csv_rows(m))
    name = f"measures-{m.office_code}-{kind}-{m.period.first.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
