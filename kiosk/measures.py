"""Performance measures of an office for a day, an ISO week or a month (docs/measures.md).

Every figure is a SQL aggregate (counts, sums, one ``ORDER BY ... LIMIT 1 OFFSET k`` for a
percentile), so a month of a busy office costs a handful of indexed queries. Durations are
whole seconds between timestamps truncated to the second, computed the same way on SQLite and
PostgreSQL, so both databases give identical results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, and_, case, func, literal, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from kiosk import vocabulary
from kiosk.models import QueueTicket, Visit
from payments import days
from payments.db import UTCDateTime, utcnow
from payments.models import DrawerSession, Payment, PaymentStatus

PERIODS = ("day", "week", "month")
DEFAULT_TARGET_MINUTES = 15
# A ticket called but whose customer was gone (the counter's "no-show").
NO_SHOW_STATUSES = ("no_show",)
# Visit outcomes that mean the kiosk handed the customer to the counter.
HAND_OFF_OUTCOMES = ("ticket_issued",)
# A counter visit ending with one of these was a no-show, not service.
NOT_SERVED_OUTCOMES = ("abandoned", "no_show")
WALK_IN_CHANNELS = ("kiosk", "counter")
COMPLETED_PAYMENTS = (
    PaymentStatus.SUCCEEDED.value,
    PaymentStatus.PARTIALLY_REFUNDED.value,
    PaymentStatus.REFUNDED.value,
)
CHANNEL_LABELS = {"kiosk": "Kiosk", "counter": "Counter"}
HISTOGRAM_STEP_MINUTES = 5
HISTOGRAM_LAST_MINUTES = 60  # the last bin is "60 minutes or more"


class MeasuresError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class epoch_seconds(FunctionElement):
    """Whole seconds since 1970 of a UTC timestamp column, truncated (both databases)."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # SQLite keeps UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; %s truncates the fraction.
    column = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw):
    column = compiler.process(element.clauses, **kw)
    return f"CAST(floor(extract(epoch from {column})) AS BIGINT)"


@dataclass(frozen=True)
class Period:
    kind: str  # day | week | month
    first: dt.date
    last: dt.date  # inclusive
    tz: ZoneInfo

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.first.strftime("%A, %B %-d, %Y")
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"Week {year}-W{week:02d} ({self.first:%b %-d} – {self.last:%b %-d, %Y})"
        return self.first.strftime("%B %Y")

    @property
    def start(self) -> dt.datetime:
        """The UTC instant the period begins (local midnight of its first day)."""
        return days.day_bounds(self.first, self.tz)[0]

    @property
    def end(self) -> dt.datetime:
        return days.day_bounds(self.last, self.tz)[1]


def period_for(kind: str, day: dt.date, tz: ZoneInfo = days.OFFICE_TZ) -> Period:
    """The day, the ISO week (Monday to Sunday) or the calendar month containing ``day``."""
    if kind == "day":
        return Period(kind, day, day, tz)
    if kind == "week":
        first = day - dt.timedelta(days=day.weekday())
        return Period(kind, first, first + dt.timedelta(days=6), tz)
    if kind == "month":
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return Period(kind, first, following - dt.timedelta(days=1), tz)
    raise MeasuresError("bad_period", f"period must be one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator

    def percent(self) -> str:
        return "—" if self.value is None else f"{100 * self.value:.1f}%"

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": None if value is None else round(value, 4),
        }


@dataclass(frozen=True)
class Durations:
    """Count, mean and nearest-rank 90th percentile of durations in whole seconds."""

    count: int
    mean_seconds: int | None
    p90_seconds: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean_seconds": self.mean_seconds,
            "p90_seconds": self.p90_seconds,
        }


@dataclass(frozen=True)
class Count:
    code: str
    label: str
    count: int


@dataclass(frozen=True)
class Bin:
    low_minutes: int
    high_minutes: int | None  # None: open-ended last bin
    count: int

    @property
    def label(self) -> str:
        if self.high_minutes is None:
            return f"{self.low_minutes}+ min"
        return f"{self.low_minutes}–{self.high_minutes} min"


@dataclass
class Measures:
    office_code: str
    office_name: str
    period: Period
    generated_at: dt.datetime
    target_minutes: int
    visits: int
    arrivals: int
    by_reason: list[Count]
    by_outcome: list[Count]
    by_channel: list[Count]
    tickets_issued: int
    tickets_served: int
    tickets_no_show: int
    tickets_never_called: int
    tickets_waiting_now: int
    wait: Durations
    service: Durations
    within_target: Ratio
    abandonment: Ratio
    self_service: Ratio
    hand_offs: Ratio
    counter_transactions: int
    staffed_seconds: int
    hourly_arrivals: list[int] = field(default_factory=lambda: [0] * 24)
    wait_histogram: list[Bin] = field(default_factory=list)

    @property
    def tickets_abandoned(self) -> int:
        return self.tickets_no_show + self.tickets_never_called

    @property
    def transactions_per_staffed_hour(self) -> float | None:
        if self.staffed_seconds <= 0:
            return None
        return round(self.counter_transactions * 3600 / self.staffed_seconds, 2)

    def as_dict(self) -> dict[str, Any]:
        def counts(items: list[Count]) -> list[dict[str, Any]]:
            return [{"code": c.code, "label": c.label, "count": c.count} for c in items]

        return {
            "office_code": self.office_code,
            "office_name": self.office_name,
            "period": self.period.kind,
            "first_date": self.period.first.isoformat(),
            "last_date": self.period.last.isoformat(),
            "label": self.period.label,
            "generated_at": self.generated_at.isoformat().replace("+00:00", "Z"),
            "target_minutes": self.target_minutes,
            "visits": {
                "total": self.visits,
                "arrivals": self.arrivals,
                "by_reason": counts(self.by_reason),
                "by_outcome": counts(self.by_outcome),
                "by_channel": counts(self.by_channel),
            },
            "tickets": {
                "issued": self.tickets_issued,
                "served": self.tickets_served,
                "no_show": self.tickets_no_show,
                "never_called": self.tickets_never_called,
                "waiting_now": self.tickets_waiting_now,
            },
            "wait": self.wait.as_dict(),
            "service": self.service.as_dict(),
            "served_within_target": self.within_target.as_dict(),
            "abandonment": self.abandonment.as_dict(),
            "self_service": self.self_service.as_dict(),
            "kiosk_hand_offs": self.hand_offs.as_dict(),
            "transactions_per_staffed_hour": {
                "counter_transactions": self.counter_transactions,
                "staffed_seconds": self.staffed_seconds,
                "value": self.transactions_per_staffed_hour,
            },
            "hourly_arrivals": [
                {"hour": h, "count": n} for h, n in enumerate(self.hourly_arrivals)
            ],
            "wait_histogram": [
                {"low_minutes": b.low_minutes, "high_minutes": b.high_minutes, "count": b.count}
                for b in self.wait_histogram
            ],
        }


def _mean(total: int | None, count: int) -> int | None:
    """Integer mean rounded half up (exact on both databases: no float averaging in SQL)."""
    if not count:
        return None
    return (2 * int(total or 0) + count) // (2 * count)


def _p90_rank(count: int) -> int:
    """Nearest rank: the smallest rank r with r/count >= 0.9, i.e. ceil(0.9 * count)."""
    return (9 * count + 9) // 10


def _durations_from(session: Session, sub, count: int, total: int) -> Durations:
    """Mean and nearest-rank p90 of ``sub.c.seconds`` given their count and sum."""
    if not count:
        return Durations(0, None, None)
    p90 = session.scalar(
        select(sub.c.seconds).order_by(sub.c.seconds).offset(_p90_rank(count) - 1).limit(1)
    )
    return Durations(count, _mean(total, count), int(p90))


def _ticket_filters(office_id: int, period: Period) -> list:
    return [
        QueueTicket.office_id == office_id,
        QueueTicket.business_date >= period.first,
        QueueTicket.business_date <= period.last,
    ]


def _visit_filters(office_id: int, period: Period) -> list:
    return [
        Visit.office_id == office_id,
        Visit.started_at >= literal(period.start, UTCDateTime()),
        Visit.started_at < literal(period.end, UTCDateTime()),
    ]


def _served_ticket():
    return and_(QueueTicket.called_at.is_not(None), QueueTicket.status.not_in(NO_SHOW_STATUSES))


def _label(code: str | None) -> str:
    return "(no outcome yet)" if code is None else vocabulary.label(code, "en")


def compute(
    session: Session,
    office_id: int,
    kind: str,
    day: dt.date,
    *,
    target_minutes: int = DEFAULT_TARGET_MINUTES,
    now: dt.datetime | None = None,
) -> Measures:
    """All measures of one office for the period of ``kind`` containing ``day``."""
    office = days.office(session, office_id)
    period = period_for(kind, day, office.tz)
    now = now or utcnow()
    today = days.business_date(now, office.tz)
    target_seconds = max(int(target_minutes), 0) * 60
    visit_where = _visit_filters(office_id, period)
    ticket_where = _ticket_filters(office_id, period)

    # Visits: one GROUP BY over (channel, outcome, reasons, has a ticket); the few distinct
    # combinations are then tallied here: total, arrivals (kiosk visits and counter walk-ins),
    # hand-offs, and the breakdowns by reason, outcome and channel.
    combos = (
        select(
            Visit.channel.label("channel"),
            Visit.outcome_code.label("outcome"),
            func.coalesce(Visit.reason_codes, "").label("reasons"),
            case((Visit.ticket_id.is_(None), 0), else_=1).label("ticketed"),
            (epoch_seconds(Visit.started_at) // 3600).label("hour"),  # UTC hour
            (
                epoch_seconds(Visit.ended_at)
                - epoch_seconds(func.coalesce(Visit.called_at, Visit.started_at))
            ).label("seconds"),  # NULL while the visit is open
        )
        .where(*visit_where)
        .subquery()
    )
    visits = arrivals = kiosk_visits = hand_offs = 0
    reasons: dict[str, int] = {}
    outcomes: dict[str | None, int] = {}
    channels: dict[str, int] = {}
    utc_hours: dict[int, int] = {}
    keys = [combos.c.channel, combos.c.outcome, combos.c.reasons, combos.c.ticketed, combos.c.hour]
    service_count = service_total = 0
    for channel, outcome, codes, ticketed, hour, n, ended, seconds in session.execute(
        select(
            *keys, func.count(), func.count(combos.c.seconds), func.sum(combos.c.seconds)
        ).group_by(*keys)
    ).all():
        n = int(n)
        if channel == "counter" and outcome not in NOT_SERVED_OUTCOMES:
            service_count += int(ended)
            service_total += int(seconds or 0)
        visits += n
        kiosk = channel == "kiosk"
        if kiosk or not ticketed:
            arrivals += n
            utc_hours[int(hour)] = utc_hours.get(int(hour), 0) + n
        kiosk_visits += n if kiosk else 0
        hand_offs += n if kiosk and (ticketed or outcome in HAND_OFF_OUTCOMES) else 0
        for code in {c for c in codes.split(",") if c} or {""}:
            reasons[code] = reasons.get(code, 0) + n
        outcomes[outcome] = outcomes.get(outcome, 0) + n
        channels[channel] = channels.get(channel, 0) + n

    def ranked(items: list[Count]) -> list[Count]:
        return sorted(items, key=lambda c: (-c.count, c.code))

    by_reason = ranked([Count(c, _label(c), n) for c, n in reasons.items() if c])
    if "" in reasons:
        by_reason.append(Count("", "(no reason recorded)", reasons[""]))
    by_outcome = ranked([Count(c or "", _label(c), n) for c, n in outcomes.items()])
    by_channel = ranked([Count(c, CHANNEL_LABELS.get(c, c), n) for c, n in channels.items()])

    # Queue tickets: every ticket is served, abandoned (no-show / never called) or still waiting.
    never_called = QueueTicket.called_at.is_(None)
    waiting_now = and_(never_called, QueueTicket.business_date == today)
    issued, served, no_show, waiting = (
        int(v or 0)
        for v in session.execute(
            select(
                func.count(),
                func.sum(case((_served_ticket(), 1), else_=0)),
                func.sum(case((QueueTicket.status.in_(NO_SHOW_STATUSES), 1), else_=0)),
                func.sum(
                    case(
                        (and_(waiting_now, not_(QueueTicket.status.in_(NO_SHOW_STATUSES))), 1),
                        else_=0,
                    )
                ),
            ).where(*ticket_where)
        ).one()
    )
    never = issued - served - no_show - waiting

    wait_sub = (
        select(
            (epoch_seconds(QueueTicket.called_at) - epoch_seconds(QueueTicket.issued_at)).label(
                "seconds"
            )
        )
        .where(*ticket_where, _served_ticket())
        .subquery()
    )
    step = HISTOGRAM_STEP_MINUTES * 60
    last_bin = HISTOGRAM_LAST_MINUTES // HISTOGRAM_STEP_MINUTES
    bins_sub = select(
        wait_sub.c.seconds,
        case(
            (wait_sub.c.seconds < 0, 0),
            (wait_sub.c.seconds >= HISTOGRAM_LAST_MINUTES * 60, last_bin),
            else_=wait_sub.c.seconds // step,
        ).label("bin"),
    ).subquery()
    per_bin: dict[int, int] = {}
    total_wait = within = 0
    for b, n, seconds, in_target in session.execute(
        select(
            bins_sub.c.bin,
            func.count(),
            func.sum(bins_sub.c.seconds),
            func.sum(case((bins_sub.c.seconds <= target_seconds, 1), else_=0)),
        ).group_by(bins_sub.c.bin)
    ).all():
        per_bin[int(b)] = int(n)
        total_wait += int(seconds or 0)
        within += int(in_target or 0)
    wait = _durations_from(session, wait_sub, sum(per_bin.values()), total_wait)
    histogram = [
        Bin(
            i * HISTOGRAM_STEP_MINUTES,
            None if i == last_bin else (i + 1) * HISTOGRAM_STEP_MINUTES,
            int(per_bin.get(i, 0)),
        )
        for i in range(last_bin + 1)
    ]

    # Service time: ended counter visits from call (or start, for a walk-in) to end; count and
    # sum came with the visits above, the p90 needs the sorted column.
    service_sub = (
        select(
            (
                epoch_seconds(Visit.ended_at)
                - epoch_seconds(func.coalesce(Visit.called_at, Visit.started_at))
            ).label("seconds")
        )
        .where(
            *visit_where,
            Visit.channel == "counter",
            Visit.ended_at.is_not(None),
            or_(Visit.outcome_code.is_(None), Visit.outcome_code.not_in(NOT_SERVED_OUTCOMES)),
        )
        .subquery()
    )
    service = _durations_from(session, service_sub, service_count, service_total)

    # Payments: self-service rate and counter transactions.
    kiosk_paid, walk_in_paid, counter_paid = (
        int(v or 0)
        for v in session.execute(
            select(
                func.sum(case((Payment.channel == "kiosk", 1), else_=0)),
                func.count(),
                func.sum(case((Payment.channel == "counter", 1), else_=0)),
            ).where(
                Payment.office_id == office_id,
                Payment.business_date >= period.first,
                Payment.business_date <= period.last,
                Payment.channel.in_(WALK_IN_CHANNELS),
                Payment.status.in_(COMPLETED_PAYMENTS),
            )
        ).one()
    )

    # Staffed time: drawer sessions of the period, open ones counted up to now.
    cap = literal(min(now, period.end), UTCDateTime())
    staffed = session.scalar(
        select(
            func.sum(
                epoch_seconds(func.coalesce(DrawerSession.closed_at, cap))
                - epoch_seconds(DrawerSession.opened_at)
            )
        ).where(
            DrawerSession.office_id == office_id,
            DrawerSession.business_date >= period.first,
            DrawerSession.business_date <= period.last,
        )
    )

    # Hourly arrivals: counted per UTC hour above, then placed on the office's local clock.
    hourly = [0] * 24
    for hour, n in utc_hours.items():
        hourly[dt.datetime.fromtimestamp(hour * 3600, dt.UTC).astimezone(office.tz).hour] += n

    return Measures(
        office_code=office.code,
        office_name=office.name,
        period=period,
        generated_at=now,
        target_minutes=int(target_minutes),
        visits=visits,
        arrivals=arrivals,
        by_reason=by_reason,
        by_outcome=by_outcome,
        by_channel=by_channel,
        tickets_issued=issued,
        tickets_served=served,
        tickets_no_show=no_show,
        tickets_never_called=never,
        tickets_waiting_now=waiting,
        wait=wait,
        service=service,
        within_target=Ratio(within, served),
        abandonment=Ratio(no_show + never, issued - waiting),
        self_service=Ratio(kiosk_paid, walk_in_paid),
        hand_offs=Ratio(hand_offs, kiosk_visits),
        counter_transactions=counter_paid,
        staffed_seconds=max(int(staffed or 0), 0),
        hourly_arrivals=hourly,
        wait_histogram=histogram,
    )


def csv_rows(m: Measures) -> list[list[str]]:
    """The measures as (section, measure, value, numerator, denominator) rows for a CSV."""

    def ratio(section: str, name: str, r: Ratio) -> list[str]:
        value = "" if r.value is None else f"{r.value:.4f}"
        return [section, name, value, str(r.numerator), str(r.denominator)]

    def opt(v: object) -> str:
        return "" if v is None else str(v)

    rows = [["section", "measure", "value", "numerator", "denominator"]]
    rows.append(["period", m.period.kind, f"{m.period.first}..{m.period.last}", "", ""])
    rows.append(["visits", "total", str(m.visits), "", ""])
    rows.append(["visits", "arrivals", str(m.arrivals), "", ""])
    rows += [["reason", c.code or "(none)", str(c.count), "", ""] for c in m.by_reason]
    rows += [["outcome", c.code or "(none)", str(c.count), "", ""] for c in m.by_outcome]
    rows += [["channel", c.code, str(c.count), "", ""] for c in m.by_channel]
    rows += [
        ["tickets", "issued", str(m.tickets_issued), "", ""],
        ["tickets", "served", str(m.tickets_served), "", ""],
        ["tickets", "no_show", str(m.tickets_no_show), "", ""],
        ["tickets", "never_called", str(m.tickets_never_called), "", ""],
        ["tickets", "waiting_now", str(m.tickets_waiting_now), "", ""],
        ["wait", "mean_seconds", opt(m.wait.mean_seconds), "", str(m.wait.count)],
        ["wait", "p90_seconds", opt(m.wait.p90_seconds), "", str(m.wait.count)],
        ["service", "mean_seconds", opt(m.service.mean_seconds), "", str(m.service.count)],
        ["service", "p90_seconds", opt(m.service.p90_seconds), "", str(m.service.count)],
        ratio("wait", f"served_within_{m.target_minutes}_minutes", m.within_target),
        ratio("tickets", "abandonment", m.abandonment),
        ratio("payments", "self_service", m.self_service),
        ratio("visits", "kiosk_hand_offs", m.hand_offs),
        [
            "payments",
            "transactions_per_staffed_hour",
            opt(m.transactions_per_staffed_hour),
            str(m.counter_transactions),
            str(m.staffed_seconds),
        ],
    ]
    rows += [
        ["arrivals_by_hour", f"{h:02d}", str(n), "", ""] for h, n in enumerate(m.hourly_arrivals)
    ]
    rows += [["wait_histogram", b.label, str(b.count), "", ""] for b in m.wait_histogram]
    return rows
