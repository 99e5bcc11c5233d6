"""The deposit slip as a letter-size PDF: cash by denomination, the checks and money orders one
by one, the totals, the bag number and who prepared and verified it, with signature lines."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from kiosk.reports.pdf import (
    _CELL,
    FONT,
    FONT_BOLD,
    WIDTH,
    _money,
    _nfc,
    _register_fonts,
    _table,
    _wrap,
    build_letter_pdf,
    heading,
)
from payments.db import DATE_AND_CLOCK, office_time
from payments.models import DENOMINATIONS

KIND_NAMES = {"check": "Check", "money_order": "Money order"}


def denomination_name(key: str) -> str:
    kind, value = key.split("_")
    if kind == "bill":
        return f"${value} bills"
    return "$1 coins" if value == "100" else f"{value}¢ coins"


@dataclass(frozen=True)
class SlipPeople:
    office_code: str
    office_name: str
    prepared_by: str
    verified_by: str | None


def _count(n: int, noun: str) -> str:
    """ "1 item", "2 items"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _when(iso: str | None) -> str:
    """An ISO UTC timestamp from the deposit record, on the office's clock."""
    return office_time(dt.datetime.fromisoformat(iso), DATE_AND_CLOCK, blank="") if iso else ""


def _facts(deposit: dict[str, Any], people: SlipPeople) -> Table:
    rows = [
        ["Bag number", deposit["bag_number"], "Version", str(deposit["version"])],
        [
            "Prepared by",
            _nfc(people.prepared_by),
            "Prepared at",
            _when(deposit["prepared_at"]),
        ],
        [
            "Verified by",
            _nfc(people.verified_by or "NOT VERIFIED"),
            "Verified at",
            _when(deposit["verified_at"]),
        ],
    ]
    table = Table(rows, colWidths=[1.1 * inch, 2.6 * inch, 1.0 * inch, WIDTH - 4.7 * inch])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 9),
                ("FONT", (0, 0), (0, -1), FONT_BOLD, 9),
                ("FONT", (2, 0), (2, -1), FONT_BOLD, 9),
                ("FONT", (1, 0), (1, 0), FONT_BOLD, 12),
            ]
        )
    )
    return table


def _story(deposit: dict[str, Any], people: SlipPeople) -> list:
    story: list = [_facts(deposit, people)]
    if deposit.get("amend_reason"):
        story.append(Paragraph(f"Amended: {_nfc(deposit['amend_reason'])}", _CELL))

    story += heading("Cash by denomination")
    rows = [
        [
            denomination_name(c["denomination"]),
            _money(DENOMINATIONS[c["denomination"]]),
            c["counted"],
            c["retained"],
            c["deposited"],
            _money(c["deposited_cents"]),
        ]
        for c in deposit["cash"]
    ]
    if deposit["safe_drops_cents"]:
        rows.append(
            ["Drops and pickups (safe)", "", "", "", "", _money(deposit["safe_drops_cents"])]
        )
    rows.append(["Cash total", "", "", "", "", _money(deposit["cash_cents"])])
    w = (WIDTH - 2.0 * inch) / 5
    story.append(
        _table(
            ["Denomination", "Value", "Counted", "Float kept", "Deposited", "Amount"],
            rows,
            [2.0 * inch] + [w] * 5,
            first_number=1,
        )
    )
    story.append(
        Paragraph(
            f"Counted in {_count(deposit['drawer_count'], 'closed drawer')}: "
            f"{_money(deposit['counted_cash_cents'])}; float returned to the safe: "
            f"{_money(deposit['float_retained_cents'])}.",
            _CELL,
        )
    )

    story += heading("Checks and money orders")
    rows = [
        [
            KIND_NAMES.get(i["kind"], i["kind"]),
            _wrap(i["reference"] or ""),
            _wrap(i["bank"] or ""),
            i["receipt_number"] or "",
            _money(i["amount_cents"]),
        ]
        for i in deposit["items"]
    ]
    rows.append(
        [
            "Total",
            _count(deposit["checks_count"] + deposit["money_orders_count"], "item"),
            "",
            "",
            _money(deposit["checks_cents"] + deposit["money_orders_cents"]),
        ]
    )
    story.append(
        _table(
            ["Kind", "Number", "Bank / issuer", "Receipt", "Amount"],
            rows,
            [1.1 * inch, 1.4 * inch, WIDTH - 5.3 * inch, 1.6 * inch, 1.2 * inch],
            first_number=4,
        )
    )

    story += heading("Deposit total")
    rows = [
        ["Cash", "", _money(deposit["cash_cents"])],
        ["Checks", deposit["checks_count"], _money(deposit["checks_cents"])],
        ["Money orders", deposit["money_orders_count"], _money(deposit["money_orders_cents"])],
        ["Total deposit", "", _money(deposit["total_cents"])],
    ]
    story.append(
        _table(
            ["", "Items", "Amount"],
            rows,
            [WIDTH - 2.6 * inch, 1.1 * inch, 1.5 * inch],
            first_number=1,
        )
    )
    story.append(Spacer(1, 0.5 * inch))
    sign = Table(
        [
            ["Prepared by (signature)", "", "Verified by (signature)"],
            ["", "", ""],
        ],
        colWidths=[WIDTH * 0.45, WIDTH * 0.1, WIDTH * 0.45],
        rowHeights=[14, 30],
    )
    sign.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8.5),
                ("LINEBELOW", (0, 1), (0, 1), 0.6, "black"),
                ("LINEBELOW", (2, 1), (2, 1), 0.6, "black"),
            ]
        )
    )
    story.append(sign)
    return story


def deposit_slip_pdf(
    deposit: dict[str, Any], people: SlipPeople, *, generated_at: dt.datetime
) -> bytes:
    """``deposit`` is ``payments.deposit.as_dict(...)``."""
    _register_fonts()
    out = io.BytesIO()
    office = _nfc(people.office_name)
    day = dt.date.fromisoformat(deposit["business_date"]).strftime("%A, %B %-d, %Y")
    status = deposit["status"].upper()

    build_letter_pdf(
        out,
        [Spacer(1, 2)] + _story(deposit, people),
        office=office,
        office_code=people.office_code,
        heading=f"Deposit slip · business day {day} · {status}",
        generated_at=generated_at,
        footer=f"{office} · {day} · bag {deposit['bag_number']}",
        title=f"{people.office_code} deposit {deposit['business_date']}",
    )
    return out.getvalue()
