"""The measures page of the daily PDF: through the domain and through the API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kiosk.reports import daily_report_pdf
from kiosk.reports.measures_pdf import day_measures
from payments import reports
from tests.kiosk import measures_data as data
from tests.kiosk.measures_data import DAY
from tests.support.pdf import pdf_pages

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "measures"


_pages = pdf_pages


@pytest.fixture
def day(session, office):
    data.build_day(session, office)
    session.commit()


def test_daily_pdf_has_a_measures_page(session, office, day, tmp_path):
    report = reports.daily_report(session, office.id, DAY)
    pdf = daily_report_pdf(report, measures=day_measures(session, report))
    pages = _pages(pdf, tmp_path)
    page = pages[-1]
    assert "Performance measures · Friday, November 20, 2026" in page
    assert "Santa Ana Trash & Recycling Payment Office" in page  # the header on every page
    assert "Arrivals by hour of day" in page and "Wait from ticket to call" in page
    assert "60.0%" in page and "3 of 5" in page  # served within 15 minutes
    assert "18:00" in page and "40:00" in page  # average and p90 wait
    assert "28.6%" in page  # abandonment
    assert "0.33" in page  # transactions per staffed hour
    # without measures the report is as before: no measures page
    assert "Performance measures" not in "".join(_pages(daily_report_pdf(report), tmp_path))
    # a picture of the page to look at
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "daily-with-measures.pdf").write_bytes(pdf)
    last = str(len(pages))
    pdf_path, png_stem = ARTIFACTS / "daily-with-measures.pdf", ARTIFACTS / "measures-page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", last, "-l", last, "-singlefile", pdf_path, png_stem],
        check=True,
    )
    assert (ARTIFACTS / "measures-page.png").stat().st_size > 10_000


def test_api_pdf_carries_the_measures_page(client, login_as, day, tmp_path):
    login_as("finance")
    response = client.get(f"/api/v1/reports/daily.pdf?date={DAY.isoformat()}")
    assert response.status_code == 200
    assert "Performance measures" in _pages(response.data, tmp_path)[-1]


def test_empty_day_still_draws(session, office, tmp_path):
    report = reports.daily_report(session, office.id, DAY)
    pages = _pages(daily_report_pdf(report, measures=day_measures(session, report)), tmp_path)
    assert "No arrivals" not in pages[-1]  # the charts draw empty axes, not an error
    assert "Performance measures" in pages[-1]


def test_cli_pdf_carries_the_measures_page(app, day, tmp_path):
    from kiosk.cli import cli

    target = tmp_path / "daily.pdf"
    args = ["report", "daily", "--office", "SA", "--date", DAY.isoformat()]
    result = app.test_cli_runner().invoke(cli, [*args, "--format", "pdf", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "Performance measures" in _pages(target.read_bytes(), tmp_path)[-1]
