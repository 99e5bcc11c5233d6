"""The receipt as PDF (reportlab): an 80 mm roll-sized receipt and a letter-size copy.

DejaVu Sans covers Spanish and Vietnamese; text is NFC-normalized by the layout. The 80 mm
page is exactly as tall as its content (measured, plus margins and the frame's padding), so
a receipt never spills onto a second page.
"""

from __future__ import annotations

import functools
import io
from xml.sax.saxutils import escape

from reportlab.graphics.barcode import code128
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch, mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    HRFlowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from receipts.document import Document
from receipts.layout import Line, lay_out
from receipts.raster import BOLD, REGULAR

FRAME_PADDING = 6  # reportlab's Frame default, on each side
ROLL_WIDTH = 80 * mm
ROLL_MARGIN = 4 * mm


@functools.cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont("DejaVuSans", str(REGULAR)))
    pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(BOLD)))


def _style(size: float, bold: bool, align: int) -> ParagraphStyle:
    return ParagraphStyle(
        f"r{size}{bold}{align}",
        fontName="DejaVuSans-Bold" if bold else "DejaVuSans",
        fontSize=size,
        leading=size * 1.25,
        alignment=align,
    )


def _flowables(doc: Document, width: float, base: float) -> list[Flowable]:
    items: list[Flowable] = []
    for line in lay_out(doc):
        items.append(_flowable(line, width, base))
    return items


def _flowable(line: Line, width: float, base: float) -> Flowable:
    size = base * {1: 1, 2: 1.5, 3: 4}.get(line.size, 1)
    if line.kind == "blank":
        return Spacer(width, base * 0.6)
    if line.kind == "rule":
        return HRFlowable(width="100%", thickness=0.8, spaceBefore=3, spaceAfter=3, color="black")
    if line.kind == "barcode":
        # The number is set as its own line under the bars: reportlab's human-readable text
        # is drawn over the bars' lower edge.
        bar = code128.Code128(line.text, barWidth=0.75, barHeight=12 * mm, humanReadable=False)
        number = Paragraph(escape(line.text), _style(base, False, TA_CENTER))
        table = Table([[bar], [number]], colWidths=[width])
        table.setStyle(
            TableStyle(
                [
                    ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                    ("TOPPADDING", (0, 1), (-1, 1), 2),
                    ("BOTTOMPADDING", (0, 1), (-1, 1), 8),
                ]
            )
        )
        return table
    align = TA_CENTER if line.align == "center" else TA_LEFT
    if line.kind == "text":
        style = _style(size, line.bold, align)
        if line.align == "center":
            rows = _balanced(line.text, style.fontName, size, width - 1)
            return Paragraph("<br/>".join(escape(r) for r in rows), style)
        return Paragraph(escape(line.text), style)
    left = Paragraph(escape(line.text), _style(size, line.bold, TA_LEFT))
    right_style = _style(size, line.bold, TA_RIGHT)
    right = Paragraph(escape(line.right), right_style)
    # The value keeps its own width (a receipt number must not wrap); the label wraps.
    needed = pdfmetrics.stringWidth(line.right, right_style.fontName, size) + 4
    right_width = min(max(needed, width * 0.3), width * 0.7)
    table = Table([[left, right]], colWidths=[width - right_width, right_width])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _rows(words: list[str], font: str, size: float, width: float) -> list[str]:
    rows: list[str] = []
    for word in words:
        trial = f"{rows[-1]} {word}" if rows else word
        if rows and pdfmetrics.stringWidth(trial, font, size) <= width:
            rows[-1] = trial
        else:
            rows.append(word)
    return rows or [""]


def _balanced(text: str, font: str, size: float, width: float) -> list[str]:
    """A centered text in as few rows as fit, the rows as even as they can be (the office
    name never leaves its last word alone on a row)."""
    words = text.split(" ")
    rows = _rows(words, font, size, width)
    if len(rows) < 2:
        return rows
    lo, hi = 1.0, width
    while hi - lo > 1:
        mid = (lo + hi) / 2
        if len(_rows(words, font, size, mid)) <= len(rows):
            hi = mid
        else:
            lo = mid
    return _rows(words, font, size, hi)


def render_pdf(doc: Document) -> bytes:
    """An 80 mm wide receipt, one page, as tall as its content."""
    _register_fonts()
    frame_width = ROLL_WIDTH - 2 * ROLL_MARGIN - 2 * FRAME_PADDING
    items = _flowables(doc, frame_width, 8.5)
    height = sum(_measure(item, frame_width) for item in items)
    page_height = height + 2 * ROLL_MARGIN + 2 * FRAME_PADDING + 2  # 2 pt for rounding
    buf = io.BytesIO()
    SimpleDocTemplate(
        buf,
        pagesize=(ROLL_WIDTH, page_height),
        leftMargin=ROLL_MARGIN,
        rightMargin=ROLL_MARGIN,
        topMargin=ROLL_MARGIN,
        bottomMargin=ROLL_MARGIN,
        title=_title(doc),
        author=doc.office_name,
    ).build(items)
    return buf.getvalue()


def render_letter_pdf(doc: Document) -> bytes:
    """A letter-size copy (for mailing or filing), the receipt in a 4.5 inch column."""
    _register_fonts()
    column = 4.5 * inch
    side = (letter[0] - column) / 2 - FRAME_PADDING
    buf = io.BytesIO()
    SimpleDocTemplate(
        buf,
        pagesize=letter,
        leftMargin=side,
        rightMargin=side,
        topMargin=0.75 * inch,
        bottomMargin=0.75 * inch,
        title=_title(doc),
        author=doc.office_name,
    ).build(_flowables(doc, column, 11))
    return buf.getvalue()


def _measure(item: Flowable, width: float) -> float:
    _, h = item.wrap(width, 10_000)
    return h + item.getSpaceBefore() + item.getSpaceAfter()


def _title(doc: Document) -> str:
    return f"{doc.office_name} {doc.receipt_number}"
