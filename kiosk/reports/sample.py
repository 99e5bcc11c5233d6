"""A made-up busy day for looking at the daily report PDF (many voids and refunds, so tables
break across pages; Spanish and Vietnamese names). Writes docs/reports/ samples::

    .venv/bin/python -m kiosk.reports.sample docs/reports
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import subprocess
import sys

from kiosk.reports.pdf import daily_report_pdf
from payments.reports import Adjustment, DailyReport, GroupTotal, TenderTotal, Totals


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
        dt.date(2026, 11, 20),
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
    )


def main(folder: str) -> None:
    target = pathlib.Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    pdf = target / "daily-report-sample.pdf"
    pdf.write_bytes(daily_report_pdf(sample_report()))
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", str(pdf), str(target / "daily-report-sample")],
            check=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/reports")
