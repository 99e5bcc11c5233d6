"""Performance measures against hand-computed values (SQLite and PostgreSQL give the same)."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk import measures
from tests.kiosk import measures_data as data
from tests.kiosk.measures_data import AFTER, DAY, at


@pytest.fixture
def day(session, office):
    built = data.build_day(session, office)
    session.commit()
    return built


def test_period_bounds():
    week = measures.period_for("week", DAY)
    assert (week.first, week.last) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    month = measures.period_for("month", dt.date(2026, 2, 14))
    assert (month.first, month.last) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    december = measures.period_for("month", dt.date(2026, 12, 31))
    assert (december.first, december.last) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    # local midnight in UTC; November 1 2026 is the end of daylight time
    assert measures.period_for("day", dt.date(2026, 11, 1)).start == dt.datetime(
        2026, 11, 1, 7, 0, tzinfo=dt.UTC
    )
    assert measures.period_for("day", dt.date(2026, 11, 1)).end == dt.datetime(
        2026, 11, 2, 8, 0, tzinfo=dt.UTC
    )
    with pytest.raises(measures.MeasuresError):
        measures.period_for("year", DAY)


def test_p90_is_nearest_rank():
    assert [measures._p90_rank(n) for n in (1, 2, 9, 10, 11, 20, 21)] == [1, 2, 9, 9, 10, 18, 19]


def test_day_measures(session, office, day):
    m = measures.compute(session, office.id, "day", DAY, now=AFTER)

    assert m.visits == 9
    assert m.arrivals == 6  # 5 kiosk visits + 1 counter walk-in
    reasons = {c.code: c.count for c in m.by_reason}
    assert reasons == {
        "billing.pay_bill": 3,
        "billing.question": 2,
        "billing.balance": 1,
        "information.pickup_day": 1,
        "information.holidays": 1,
        "": 2,
    }
    assert {c.code: c.count for c in m.by_outcome} == {
        "paid": 3,
        "resolved": 2,
        "ticket_issued": 1,
        "answered": 1,
        "no_show": 1,
        "": 1,
    }
    assert [(c.code, c.count) for c in m.by_channel] == [("kiosk", 5), ("counter", 4)]

    assert (m.tickets_issued, m.tickets_served, m.tickets_no_show) == (7, 5, 1)
    assert (m.tickets_never_called, m.tickets_waiting_now, m.tickets_abandoned) == (1, 0, 2)
    # waits 300, 899, 900, 901, 2400: mean 1080, p90 = 5th of 5
    assert m.wait == measures.Durations(5, 1080, 2400)
    assert (m.within_target.numerator, m.within_target.denominator) == (3, 5)
    assert (m.abandonment.numerator, m.abandonment.denominator) == (2, 7)
    # counter service 420, 600, 1200 (the no-show's visit is not service)
    assert m.service == measures.Durations(3, 740, 1200)

    assert (m.self_service.numerator, m.self_service.denominator) == (2, 4)
    assert (m.hand_offs.numerator, m.hand_offs.denominator) == (1, 5)
    assert m.counter_transactions == 2
    assert m.staffed_seconds == 6 * 3600
    assert m.transactions_per_staffed_hour == 0.33

    expected_hours = [0] * 24
    for hour, n in ((8, 1), (9, 1), (10, 1), (11, 2), (23, 1)):
        expected_hours[hour] = n
    assert m.hourly_arrivals == expected_hours
    assert [b.count for b in m.wait_histogram] == [0, 1, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert m.wait_histogram[3].label == "15–20 min"
    assert m.wait_histogram[-1].label == "60+ min"


def test_target_is_a_setting(session, office, day):
    m = measures.compute(session, office.id, "day", DAY, now=AFTER, target_minutes=5)
    assert (m.within_target.numerator, m.within_target.denominator) == (1, 5)


def test_week_and_month_take_in_more_days(session, office, day):
    week = measures.compute(session, office.id, "week", DAY, now=AFTER)
    assert week.tickets_issued == 8  # the Saturday ticket too
    assert week.wait.count == 6
    assert (week.self_service.numerator, week.self_service.denominator) == (2, 5)
    assert week.visits == 10  # Thursday 23:30 local is in the same ISO week
    month = measures.compute(session, office.id, "month", DAY, now=AFTER)
    assert month.tickets_issued == 8 and month.visits == 10
    assert month.as_dict()["first_date"] == "2026-11-01"


def test_today_waiting_tickets_are_not_abandoned_yet(session, office, day):
    now = at(16, 0)  # DAY, 4 pm: B007 is still in the queue; drawer three still open
    third, _ = data.factories.make_station(session, office, "counter", name="Counter 3")
    data.drawer(session, office, third, day["cashier"], at(15, 0))
    session.commit()
    m = measures.compute(session, office.id, "day", DAY, now=now)
    assert (m.tickets_waiting_now, m.tickets_never_called) == (1, 0)
    assert (m.abandonment.numerator, m.abandonment.denominator) == (1, 6)
    assert m.staffed_seconds == 7 * 3600  # the open drawer counts up to now


def test_empty_period(session, office):
    m = measures.compute(session, office.id, "day", DAY, now=AFTER)
    assert m.visits == 0 and m.wait == measures.Durations(0, None, None)
    assert m.within_target.value is None and m.self_service.value is None
    assert m.transactions_per_staffed_hour is None
    assert m.as_dict()["abandonment"] == {"numerator": 0, "denominator": 0, "value": None}
    assert measures.csv_rows(m)[0] == ["section", "measure", "value", "numerator", "denominator"]


def test_p90_over_twenty_waits(session, office):
    for minute in range(1, 21):
        data.ticket(session, office, f"B{minute:03d}", at(9, 0), at(9, minute))
    session.commit()
    m = measures.compute(session, office.id, "day", DAY, now=AFTER)
    # nearest rank: ceil(0.9 * 20) = 18th smallest = 18 minutes; mean 10.5 min = 630 s
    assert m.wait == measures.Durations(20, 630, 18 * 60)


def test_as_dict_is_the_same_figures(session, office, day):
    d = measures.compute(session, office.id, "day", DAY, now=AFTER).as_dict()
    assert d["served_within_target"] == {"numerator": 3, "denominator": 5, "value": 0.6}
    assert d["self_service"]["value"] == 0.5
    assert d["wait"] == {"count": 5, "mean_seconds": 1080, "p90_seconds": 2400}
    assert d["transactions_per_staffed_hour"]["value"] == 0.33
    assert sum(h["count"] for h in d["hourly_arrivals"]) == 6
    # a fixed snapshot: the same on SQLite and PostgreSQL
    assert d["tickets"] == {
        "issued": 7,
        "served": 5,
        "no_show": 1,
        "never_called": 1,
        "waiting_now": 0,
    }
