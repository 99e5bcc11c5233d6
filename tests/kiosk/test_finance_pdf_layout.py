"""The finance PDFs on paper (text pulled out with pdftotext -layout): the page foot never
runs "Generated ..." into the footer text, counted words read "1 item" and "1 closed drawer",
an empty table says "None", and the measures line gives open-drawer time in minutes when it
is under an hour."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from kiosk.reports import sample
from kiosk.reports.deposit_pdf import SlipPeople, deposit_slip_pdf
from kiosk.reports.measures_pdf import _drawer_time
from kiosk.reports.pdf import _footer_fits, daily_report_pdf
from tests.support.pdf import pdf_text

GENERATED = dt.datetime(2026, 11, 24, 6, 35, tzinfo=dt.UTC)  # 10:35 PM on Nov 23 in Santa Ana


_text = pdf_text


def _deposit(bag: str) -> dict:
    return {
        "id": 1,
        "business_date": "2026-11-23",
        "version": 1,
        "status": "prepared",
        "bag_number": bag,
        "drawer_count": 1,
        "counted_cash_cents": 29_000,
        "float_retained_cents": 11_000,
        "safe_drops_cents": 0,
        "cash_cents": 18_000,
        "cash": [
            {
                "denomination": "bill_20",
                "counted": 14,
                "retained": 5,
                "deposited": 9,
                "deposited_cents": 18_000,
            }
        ],
        "checks_count": 1,
        "checks_cents": 15_000,
        "money_orders_count": 0,
        "money_orders_cents": 0,
        "items": [
            {
                "kind": "check",
                "reference": "4412",
                "bank": "Wells Fargo",
                "amount_cents": 15_000,
                "receipt_number": "SA-20261123-0002",
            }
        ],
        "total_cents": 33_000,
        "prepared_by_id": 3,
        "prepared_at": "2026-11-24T06:35:23Z",
        "verified_by_id": None,
        "verified_at": None,
        "amend_reason": None,
    }


PEOPLE = SlipPeople("SA", "Santa Ana Trash & Recycling Payment Office", "Linda Pham", None)


def test_deposit_slip_foot_and_counted_words(tmp_path):
    text = _text(
        deposit_slip_pdf(_deposit("BAG-20261123-0001-NIGHT"), PEOPLE, generated_at=GENERATED),
        tmp_path,
    )
    assert "1 item " in text and "item(s)" not in text
    assert "Counted in 1 closed drawer: $290.00" in text and "drawer(s)" not in text
    assert re.search(r"Prepared at +2026-11-23 10:35 PM", text)
    generated = [line for line in text.splitlines() if "Generated" in line]
    # On its own line: not run into "Santa Ana ... page 1" as "PMSanta Ana".
    assert generated == [generated[0]] and generated[0].strip() == "Generated 2026-11-23 10:35 PM"
    assert any(
        line.rstrip().endswith("bag BAG-20261123-0001-NIGHT · page 1") for line in text.splitlines()
    )


def test_footer_fits_measures_both_texts():
    assert _footer_fits("Generated 2026-11-23 10:35 PM", "Santa Ana · page 1")
    assert not _footer_fits("Generated 2026-11-23 10:35 PM", "x" * 200)


def test_daily_report_empty_tables_say_none(tmp_path):
    report = sample.sample_report()
    card = dataclasses.replace(report.card, payouts=[], open_exceptions=[])
    report = dataclasses.replace(report, adjustments=[], card=card)
    text = _text(daily_report_pdf(report), tmp_path)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    start = lines.index(next(x for x in lines if x.startswith("Payouts carrying this day")))
    assert lines[start + 2].startswith("None")
    voids = lines.index("Voids and refunds")
    assert lines[voids + 2].startswith("None")


def test_drawer_time_under_an_hour_in_minutes():
    assert _drawer_time(170) == "3 drawer min"
    assert _drawer_time(5_400) == "1.5 drawer h"


def test_daily_report_lists_the_drawers_over_short(tmp_path):
    from kiosk.reports.drawers import DrawerLine

    closed_at = dt.datetime(2026, 11, 21, 1, 34, tzinfo=dt.UTC)  # 5:34 PM on Nov 20
    drawers = [
        DrawerLine("Counter 2", "Ana Cashier", "open", GENERATED, None, None, None, None),
        DrawerLine(
            "Counter 1", "José Martínez", "closed", GENERATED, closed_at, 29_300, 29_000, -300
        ),
    ]
    text = _text(daily_report_pdf(sample.sample_report(), drawers=drawers), tmp_path)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    start = lines.index("Cash drawers")
    assert re.match(r"Counter 2 +Ana Cashier +Open: not counted$", lines[start + 2])
    assert re.match(
        r"Counter 1 +José Martínez +Closed 5:34 PM +\$293\.00 +\$290\.00 +-\$3\.00$",
        lines[start + 3],
    )
    assert re.match(
        r"Total of the closed drawers +\$293\.00 +\$290\.00 +-\$3\.00$", lines[start + 4]
    )
    assert "Cash drawers" not in _text(daily_report_pdf(sample.sample_report()), tmp_path)
