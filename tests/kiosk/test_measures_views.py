"""The measures dashboard, its CSV and the API, through the Flask client."""

from __future__ import annotations

import csv
import io

import pytest

from tests.kiosk import measures_data as data
from tests.kiosk.measures_data import DAY


@pytest.fixture
def day(sessions, office):
    with sessions() as s:
        data.build_day(s, s.merge(office))
        s.commit()


def test_dashboard_shows_measures_and_accessible_charts(client, login_as, day):
    login_as("finance")
    response = client.get(f"/finance/measures?period=day&date={DAY.isoformat()}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Friday, November 20, 2026" in html
    assert "60.0%" in html  # served within 15 minutes: 3 of 5
    assert "3 of 5 tickets" in html
    assert "18:00" in html  # average wait 1080 s
    assert "40:00" in html  # p90 wait 2400 s
    assert "28.6%" in html  # abandonment 2 of 7
    assert "0.33" in html  # counter payments per drawer hour
    # two SVG charts, each with a title and a description it is labelled by, and a table
    assert html.count('role="img"') == 2
    for chart in ("arrivals", "waits"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    assert "Arrivals by hour as a table" in html and "Wait distribution as a table" in html
    assert "<script" not in html.split("</head>")[1]  # no script in the page body
    assert '<td>Pay a bill</td><td class="num">3</td>' in html  # visits by reason


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_may_look(client, login_as, day, role):
    login_as(role)
    assert client.get(f"/finance/measures?date={DAY.isoformat()}").status_code == 200


def test_cashier_may_not(client, login_as):
    login_as("cashier")
    assert client.get("/finance/measures").status_code == 403
    assert client.get("/api/v1/measures").status_code == 403


@pytest.mark.parametrize(
    "query, message",
    [
        ("period=year", "The period must be day, week or month."),
        ("date=2026-13-01", "The date must be YYYY-MM-DD."),
        ("date=yesterday", "The date must be YYYY-MM-DD."),
        ("date=2999-01-01", "The date must be a day that has begun"),
    ],
)
def test_bad_input_is_explained(client, login_as, query, message):
    login_as("finance")
    response = client.get(f"/finance/measures?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    api = client.get(f"/api/v1/measures?{query}")
    assert api.status_code == 400
    assert message in api.get_json()["error"]["message"]
    assert client.get(f"/finance/measures.csv?{query}").status_code == 400


def test_csv_download(client, login_as, day):
    login_as("finance")
    response = client.get(f"/finance/measures.csv?period=week&date={DAY.isoformat()}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "measures-SA-week-2026-11-16.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["section", "measure", "value", "numerator", "denominator"]
    by_key = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_key[("tickets", "issued")] == ["8", "", ""]
    assert by_key[("payments", "self_service")] == ["0.4000", "2", "5"]
    assert by_key[("wait", "served_within_15_minutes")][1:] == ["4", "6"]


def test_api_returns_the_measures(client, login_as, day):
    login_as("supervisor")
    response = client.get(f"/api/v1/measures?period=day&date={DAY.isoformat()}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["period"] == "day" and body["first_date"] == "2026-11-20"
    assert body["wait"] == {"count": 5, "mean_seconds": 1080, "p90_seconds": 2400}
    assert body["served_within_target"]["value"] == 0.6
    assert body["abandonment"] == {"numerator": 2, "denominator": 7, "value": 0.2857}
    assert body["kiosk_hand_offs"]["numerator"] == 1
    assert body["target_minutes"] == 15


def test_target_minutes_setting(app, client, login_as, day):
    app.config["SERVICE_TARGET_MINUTES"] = 5
    login_as("finance")
    body = client.get(f"/api/v1/measures?date={DAY.isoformat()}").get_json()
    assert body["target_minutes"] == 5
    assert body["served_within_target"]["numerator"] == 1
