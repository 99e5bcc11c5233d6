"""The daily report as a letter-size PDF (reportlab, DejaVu Sans for Spanish and Vietnamese
names). The office's name, the business day and the page number are drawn on every page;
tables repeat their header row when they break across pages; amounts are right-aligned and
totals are bold."""

from __future__ import annotations

import datetime as dt
import functools
import io
import unicodedata
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from payments.db import DATE_AND_CLOCK, office_time
from payments.money import format_amount
from payments.reports import DailyReport
from receipts.raster import BOLD, REGULAR

FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
MARGIN = 0.6 * inch
WIDTH = letter[0] - 2 * MARGIN
TENDER_NAMES = {
    "cash": "Cash",
    "check": "Check",
    "money_order": "Money order",
    "card": "Card",
    "all": "All",  # a void takes back every tender of the payment
}


@functools.cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(REGULAR)))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(BOLD)))


def _nfc(value: object) -> str:
    return unicodedata.normalize("NFC", "" if value is None else str(value))


_TITLE = ParagraphStyle("title", fontName=FONT_BOLD, fontSize=12, leading=15, spaceBefore=10)
# A section up to this tall is kept whole on one page; a taller one starts on a page with
# room for its title, the table's header and a few rows, then breaks as usual.
KEEP_WHOLE = 3.5 * inch
TITLE_ROOM = 1.2 * inch


def heading(text: str) -> list:
    """A section title (build_letter_pdf keeps it with what follows it)."""
    return [Paragraph(text, _TITLE)]


def _is_title(item) -> bool:
    return isinstance(item, Paragraph) and item.style is _TITLE


def _height(item) -> float:
    _, h = item.wrap(WIDTH, 10_000)
    return h + item.getSpaceBefore() + item.getSpaceAfter()


def keep_sections(story: list) -> list:
    """No title alone at the foot of a page, and no short table split over two pages: each
    title with what follows it (up to the next title or page break) is one section."""
    out, i = [], 0
    while i < len(story):
        if not _is_title(story[i]):
            out.append(story[i])
            i += 1
            continue
        j = i + 1
        while j < len(story) and not _is_title(story[j]) and not isinstance(story[j], PageBreak):
            j += 1
        part = story[i:j]
        if sum(_height(item) for item in part) <= KEEP_WHOLE:
            out.append(KeepTogether(part))
        else:
            out += [CondPageBreak(TITLE_ROOM), *part]
        i = j
    return out


_CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8.5, leading=10.5)


def _money(cents: int) -> str:
    return format_amount(cents)


def _table(header: list[str], rows: list[list], widths: list[float], *, first_number: int):
    """A table whose columns from ``first_number`` on are numbers (right-aligned); its last
    row is the total (bold). A table with nothing above its total says "None"."""
    if len(rows) == 1:
        rows = [["None"] + [""] * (len(header) - 1)] + list(rows)
    data = [header] + [[_cell(v) for v in row] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, 8.5),
        ("FONT", (0, 1), (-1, -1), FONT, 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E4E8EE")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#F6F7F9")]),
        ("ALIGN", (first_number, 0), (-1, -1), "RIGHT"),
        ("FONT", (0, -1), (-1, -1), FONT_BOLD, 8.5),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
    ]
    table.setStyle(TableStyle(style))
    return table


def _cell(value: object):
    if isinstance(value, Paragraph):
        return value
    return _nfc(value)


def _wrap(text: str | None) -> Paragraph:
    return Paragraph(escape(_nfc(text)), _CELL)


def _drawer_story(drawers) -> list:
    """The cash drawers: expected against counted, the over/short (closed drawers only)."""
    story = heading("Cash drawers")
    rows = []
    for d in drawers:
        if d.status == "open":
            rows.append([_wrap(d.station), _wrap(d.cashier), "Open: not counted", "", "", ""])
            continue
        closed = office_time(d.closed_at, "%-I:%M %p") if d.closed_at else ""
        rows.append(
            [
                _wrap(d.station),
                _wrap(d.cashier),
                f"Closed {closed}".strip(),
                _money(d.expected_cents or 0),
                _money(d.counted_cents or 0),
                _money(d.over_short_cents or 0),
            ]
        )
    closed = [d for d in drawers if d.status != "open"]
    rows.append(
        [
            "Total" if len(closed) == len(drawers) else "Total of the closed drawers",
            "",
            "",
            _money(sum(d.expected_cents or 0 for d in closed)),
            _money(sum(d.counted_cents or 0 for d in closed)),
            _money(sum(d.over_short_cents or 0 for d in closed)),
        ]
    )
    story.append(
        _table(
            ["Station", "Cashier", "Status", "Expected", "Counted", "Over / short"],
            rows,
            [1.2 * inch, 1.5 * inch, WIDTH - 6.0 * inch, 1.1 * inch, 1.1 * inch, 1.1 * inch],
            first_number=3,
        )
    )
    return story


def _story(report: DailyReport, drawers=None) -> list:
    story: list = []
    story += heading("Summary")
    summary = [
        ["Receipted payments", report.receipted.count, _money(report.receipted.amount_cents)],
        ["Voided the same day", report.voided.count, _money(-report.voided.amount_cents)],
        [
            "Collected (applied to accounts)",
            report.collected.count,
            _money(report.collected.amount_cents),
        ],
        ["Convenience fees (paid by card customers)", "", _money(report.fees_cents)],
        ["Refunds dated this day", report.refunds.count, _money(-report.refunds.amount_cents)],
        ["Net", "", _money(report.net_cents)],
    ]
    widths = [WIDTH - 2.6 * inch, 1.1 * inch, 1.5 * inch]
    story.append(_table(["", "Count", "Amount"], summary, widths, first_number=1))

    story += heading("By tender")
    rows = [
        [
            TENDER_NAMES.get(t.kind, t.kind),
            t.count,
            _money(t.tendered_cents),
            _money(t.change_cents),
            _money(t.collected_cents),
            _money(t.refunded_cents),
            _money(t.net_cents),
        ]
        for t in report.tenders
    ]
    rows.append(
        [
            "Total",
            sum(t.count for t in report.tenders),
            _money(sum(t.tendered_cents for t in report.tenders)),
            _money(sum(t.change_cents for t in report.tenders)),
            _money(sum(t.collected_cents for t in report.tenders)),
            _money(sum(t.refunded_cents for t in report.tenders)),
            _money(sum(t.net_cents for t in report.tenders)),
        ]
    )
    w = (WIDTH - 1.3 * inch) / 6
    story.append(
        _table(
            ["Tender", "Count", "Tendered", "Change", "Collected", "Refunded", "Net"],
            rows,
            [1.3 * inch] + [w] * 6,
            first_number=1,
        )
    )

    for title, first, groups in (
        ("By station", "Station", report.by_station),
        ("By cashier and kiosk", "Cashier / kiosk", report.by_operator),
    ):
        story += heading(title)
        rows = [
            [_wrap(g.key), g.kind, g.count, _money(g.amount_cents), _money(g.fee_cents)]
            for g in groups
        ]
        rows.append(
            [
                "Total",
                "",
                sum(g.count for g in groups),
                _money(sum(g.amount_cents for g in groups)),
                _money(sum(g.fee_cents for g in groups)),
            ]
        )
        story.append(
            _table(
                [first, "Kind", "Count", "Amount", "Fees"],
                rows,
                [WIDTH - 4.6 * inch, 1.0 * inch, 0.9 * inch, 1.5 * inch, 1.2 * inch],
                first_number=2,
            )
        )

    if drawers is not None:
        story += _drawer_story(drawers)

    story += heading("Voids and refunds")
    rows = [
        [
            a.kind.title(),
            a.receipt_number or "",
            TENDER_NAMES.get(a.tender, a.tender),
            _wrap(a.approved_by or "(unknown)"),
            _wrap(a.reason or ""),
            _money(a.amount_cents),
        ]
        for a in report.adjustments
    ]
    rows.append(["Total", "", "", "", "", _money(sum(a.amount_cents for a in report.adjustments))])
    story.append(
        _table(
            ["Kind", "Receipt", "Tender", "Approved by", "Reason", "Amount"],
            rows,
            [0.7 * inch, 1.55 * inch, 0.9 * inch, 1.4 * inch, WIDTH - 5.75 * inch, 1.2 * inch],
            first_number=5,
        )
    )
    if report.card is not None:
        story += _card_story(report.card)
    return story


def _card_story(card) -> list:
    """Card payments matched to Stripe: fees and net, the payouts, the open exceptions."""
    story: list = heading("Card payments at Stripe")
    if not card.reconciled:
        story.append(
            Paragraph("Not reconciled yet: no reconciliation has run for this day.", _CELL)
        )
    rows = [
        ["Charges matched to receipts", card.matched_count, _money(card.matched_cents)],
        ["Stripe fees", "", _money(-card.fee_cents)],
        ["Charges not yet in a payout", card.unpaid_count, ""],
        ["Net to the bank", "", _money(card.net_cents)],
    ]
    widths = [WIDTH - 2.6 * inch, 1.1 * inch, 1.5 * inch]
    story.append(_table(["", "Count", "Amount"], rows, widths, first_number=1))

    story += heading("Payouts carrying this day")
    rows = [
        [
            p.payout_id,
            p.arrival_date.isoformat(),
            p.status.replace("_", " "),
            _wrap(", ".join(d.isoformat() for d in p.days)),
            _money(p.amount_cents),
            _money(p.day_net_cents),
        ]
        for p in card.payouts
    ]
    rows.append(["Total", "", "", "", "", _money(sum(p.day_net_cents for p in card.payouts))])
    story.append(
        _table(
            ["Payout", "Arrives", "Status", "Business days carried", "Payout", "This day"],
            rows,
            [1.6 * inch, 0.9 * inch, 0.8 * inch, WIDTH - 5.7 * inch, 1.2 * inch, 1.2 * inch],
            first_number=4,
        )
    )

    story += heading("Open reconciliation exceptions")
    rows = [
        [
            e.business_date.isoformat(),
            _wrap(e.label),
            _wrap(f"{e.ref} {e.detail}"),
            _money(e.expected_cents if e.expected_cents is not None else e.actual_cents or 0),
        ]
        for e in card.open_exceptions
    ]
    rows.append(["Total", f"{len(card.open_exceptions)} open", "", ""])
    story.append(
        _table(
            ["Day", "Exception", "Reference", "Amount"],
            rows,
            [0.9 * inch, 2.0 * inch, WIDTH - 4.1 * inch, 1.2 * inch],
            first_number=3,
        )
    )
    return story


def daily_report_pdf(report: DailyReport, measures=None, drawers=None) -> bytes:
    """The report; with ``measures`` (kiosk.measures.Measures) a performance-measures page;
    with ``drawers`` (kiosk.reports.drawers.day_drawers) the cash drawers' over/short."""
    _register_fonts()
    out = io.BytesIO()
    office = _nfc(report.office_name)
    day = report.business_date.strftime("%A, %B %-d, %Y")
    status = report.day_status.upper()

    story = [Spacer(1, 2)] + _story(report, drawers)
    if measures is not None:
        from kiosk.reports.measures_pdf import measures_story

        story += [PageBreak()] + measures_story(measures, WIDTH)
    build_letter_pdf(
        out,
        story,
        office=office,
        office_code=report.office_code,
        heading=f"Daily report · business day {day} · {status}",
        generated_at=report.generated_at,
        footer=f"{office} · {day}",
        title=f"{report.office_code} daily report {report.business_date.isoformat()}",
    )
    return out.getvalue()


def _footer_fits(left: str, right: str, size: float = 7.5) -> bool:
    """Whether the page foot's two texts fit on one line with a clear gap between them."""
    width = pdfmetrics.stringWidth(left, FONT, size) + pdfmetrics.stringWidth(right, FONT, size)
    return width + 0.3 * inch <= WIDTH


def build_letter_pdf(
    out,
    story: list,
    *,
    office: str,
    office_code: str,
    heading: str,
    generated_at: dt.datetime,
    footer: str,
    title: str,
) -> None:
    """Build a letter-size finance document: the office's name, the heading line and a rule
    on top of every page, "Generated <office clock>" and "<footer> · page N" at the foot."""
    generated = office_time(generated_at, DATE_AND_CLOCK)

    def page(canvas, doc):
        canvas.saveState()
        top = letter[1] - MARGIN + 0.25 * inch
        canvas.setFont(FONT_BOLD, 11)
        canvas.drawString(MARGIN, top, office)
        canvas.setFont(FONT, 9)
        canvas.drawString(MARGIN, top - 13, heading)
        canvas.drawRightString(letter[0] - MARGIN, top, office_code)
        canvas.setLineWidth(0.6)
        canvas.line(MARGIN, top - 19, letter[0] - MARGIN, top - 19)
        canvas.setFont(FONT, 7.5)
        left, right = f"Generated {generated}", f"{footer} · page {doc.page}"
        y = MARGIN - 0.3 * inch
        canvas.drawRightString(letter[0] - MARGIN, y, right)
        if _footer_fits(left, right):
            canvas.drawString(MARGIN, y, left)
        else:  # a long footer (a long bag number): "Generated" goes on the line below
            canvas.drawRightString(letter[0] - MARGIN, y - 10, left)
        canvas.restoreState()

    doc = SimpleDocTemplate(
        out,
        pagesize=letter,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 0.35 * inch,
        bottomMargin=MARGIN,
        title=title,
        author="payoffice",
    )
    doc.build(keep_sections(story), onFirstPage=page, onLaterPages=page)
