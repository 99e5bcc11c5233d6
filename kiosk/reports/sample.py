"""A made-up busy day for looking at the daily report PDF (many voids and refunds, so tables
break across pages; Spanish and Vietnamese names; the card section with payouts and open
reconciliation exceptions; the performance-measures page). Writes docs/reports/ samples::

    .venv/bin/python -m kiosk.reports.sample docs/reports
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import subprocess
import sys

from kiosk.measures import Bin, Count, Durations, Measures, Ratio, period_for
from kiosk.reports.drawers import DrawerLine
from kiosk.reports.pdf import daily_report_pdf
from payments.days import OFFICE_TZ
from payments.reconciliation import CardSection, ExceptionLine, PayoutLine
from payments.reports import Adjustment, DailyReport, GroupTotal, TenderTotal, Totals

DAY = dt.date(2026, 11, 20)


def sample_card() -> CardSection:
    """Card payments matched at Stripe, two payouts and two open exceptions (made up)."""
    return CardSection(
        reconciled=True,
        reconciled_at=dt.datetime(2026, 11, 23, 16, 5, tzinfo=dt.UTC),
        matched_count=902,
        matched_cents=8103125,
        fee_cents=247815,
        net_cents=7855310,
        unpaid_count=0,
        payouts=[
            PayoutLine(
                "po_1QJx8sLk2bS9aTnR",
                dt.date(2026, 11, 23),
                "paid",
                9120450,
                6402210,
                [dt.date(2026, 11, 19), DAY],
            ),
            PayoutLine(
                "po_1QK2mfLk2bS9aTnR",
                dt.date(2026, 11, 24),
                "in_transit",
                1453100,
                1453100,
                [DAY],
            ),
        ],
        open_exceptions=[
            ExceptionLine(
                1,
                "receipt_without_charge",
                "Receipt with no Stripe charge",
                DAY,
                "SA-20261120-0412",
                "p" + "0" * 31,
                4275,
                None,
                "no succeeded charge carries this payment",
                dt.datetime(2026, 11, 23, 16, 5, tzinfo=dt.UTC),
            ),
            ExceptionLine(
                2,
                "amount_mismatch",
                "Charge amount differs from the receipt",
                DAY,
                "ch_3QJw1ELk2bS9aTnR",
                "p" + "1" * 31,
                6150,
                6515,
                "charge 65.15, receipt 61.50",
                dt.datetime(2026, 11, 23, 16, 5, tzinfo=dt.UTC),
            ),
        ],
    )


def sample_measures() -> Measures:
    """A busy Friday at the counter and the kiosks (made up)."""
    hourly = [0] * 24
    for hour, n in zip(range(8, 17), [31, 48, 52, 44, 58, 39, 35, 27, 12], strict=True):
        hourly[hour] = n
    return Measures(
        office_code="SA",
        office_name="Santa Ana Trash & Recycling Payment Office",
        period=period_for("day", DAY, OFFICE_TZ),
        generated_at=dt.datetime(2026, 11, 21, 2, 5, tzinfo=dt.UTC),
        target_minutes=15,
        visits=346,
        arrivals=346,
        by_reason=[
            Count("billing.pay_bill", "Pay a bill", 198),
            Count("billing.question", "Billing question", 71),
            Count("service.missed_pickup", "Missed pickup", 44),
            Count("service.start_stop", "Start or stop service", 23),
            Count("information.other", "Other question", 14),
        ],
        by_outcome=[
            Count("paid", "Paid", 198),
            Count("resolved", "Resolved at the counter", 63),
            Count("ticket_issued", "Queue ticket issued", 52),
            Count("referred", "Referred to staff", 19),
            Count("no_show", "Called but did not come to the counter", 9),
            Count("abandoned", "Left without finishing", 5),
        ],
        by_channel=[Count("kiosk", "Kiosk", 214), Count("counter", "Counter", 132)],
        tickets_issued=184,
        tickets_served=167,
        tickets_no_show=9,
        tickets_never_called=8,
        tickets_waiting_now=0,
        wait=Durations(176, 492, 1104),
        service=Durations(296, 271, 540),
        within_target=Ratio(151, 176),
        abandonment=Ratio(17, 184),
        self_service=Ratio(903, 1544),
        hand_offs=Ratio(52, 214),
        counter_transactions=641,
        staffed_seconds=2 * 8 * 3600 + 1800,
        hourly_arrivals=hourly,
        wait_histogram=[
            Bin(0, 5, 61),
            Bin(5, 10, 52),
            Bin(10, 15, 38),
            Bin(15, 20, 14),
            Bin(20, 25, 5),
            Bin(25, 30, 3),
            Bin(30, None, 3),
        ],
    )


def sample_report() -> DailyReport:
    adj = []
    names = ["Nguyễn Thị Hương", "José Martínez", "Trần Văn Bảo", "María Peña"]
    for i in range(70):
        adj.append(
            Adjustment(
                "void" if i % 3 == 0 else "refund",
                f"SA-20261120-{i + 1:04d}",
                f"p{i:031d}",
                1250 + 37 * i,
                "all" if i % 3 == 0 else ("card" if i % 2 else "cash"),
                names[i % 4],
                "Pago duplicado — cliente pagó dos veces" if i % 5 == 0 else "overpaid",
                dt.datetime(2026, 11, 20, 18, i % 60, tzinfo=dt.UTC),
            )
        )
    tenders = [
        TenderTotal("cash", 412, 5123400, 412300, 4711100, 51000, 4660100),
        TenderTotal("check", 188, 2690000, 0, 2690000, 0, 2690000),
        TenderTotal("money_order", 41, 401550, 0, 401550, 0, 401550),
        TenderTotal("card", 903, 8103125, 0, 8103125, 12034, 8091091),
    ]
    return DailyReport(
        1,
        "SA",
        "Santa Ana Trash & Recycling Payment Office",
        DAY,
        "closed",
        dt.datetime(2026, 11, 21, 2, 5, tzinfo=dt.UTC),
        Totals(1580, 15800000),
        Totals(36, 94500),
        Totals(1544, 15705775),
        200000,
        Totals(47, 63034),
        15842741,
        tenders,
        [
            GroupTotal("Counter 1", "counter", 401, 5402100, 12000),
            GroupTotal("Counter 2", "counter", 240, 3390450, 0),
            GroupTotal("Lobby kiosk 1", "kiosk", 520, 4100300, 104000),
            GroupTotal("Lobby kiosk 2", "kiosk", 383, 2812925, 84000),
        ],
        [
            GroupTotal("José Martínez", "cashier", 401, 5402100, 12000),
            GroupTotal("Nguyễn Thị Hương", "cashier", 240, 3390450, 0),
            GroupTotal("Lobby kiosk 1", "kiosk", 520, 4100300, 104000),
            GroupTotal("Lobby kiosk 2", "kiosk", 383, 2812925, 84000),
        ],
        adj,
        card=sample_card(),
    )


def sample_drawers() -> list[DrawerLine]:
    """Two counter drawers closed at the end of the day, one of them $3.00 short (made up)."""
    opened = dt.datetime(2026, 11, 20, 15, 58, tzinfo=dt.UTC)
    closed = dt.datetime(2026, 11, 21, 1, 34, tzinfo=dt.UTC)
    return [
        DrawerLine("Counter 1", "José Martínez", "closed", opened, closed, 482_100, 481_800, -300),
        DrawerLine("Counter 2", "Nguyễn Thị Hương", "closed", opened, closed, 157_000, 157_000, 0),
    ]


def main(folder: str) -> None:
    target = pathlib.Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    pdf = target / "daily-report-sample.pdf"
    pdf.write_bytes(daily_report_pdf(sample_report(), sample_measures(), sample_drawers()))
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", str(pdf), str(target / "daily-report-sample")],
            check=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/reports")
