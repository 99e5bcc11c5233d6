"""The performance-measures page of the daily PDF report: key figures, hourly arrivals and the
wait distribution drawn with reportlab graphics, and visits by reason/outcome/channel."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, Table, TableStyle

from kiosk import measures as measures_module
from kiosk.measures import Measures
from kiosk.measures_charts import arrival_hours, nice_step

FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"  # registered by kiosk.reports.pdf
BLUE, ORANGE = colors.HexColor("#0B5394"), colors.HexColor("#A35200")

_TITLE = ParagraphStyle("m-title", fontName=FONT_BOLD, fontSize=12, leading=15, spaceBefore=10)
_CELL = ParagraphStyle("m-cell", fontName=FONT, fontSize=8.5, leading=10.5)
_NOTE = ParagraphStyle("m-note", fontName=FONT, fontSize=8, leading=10, textColor=colors.grey)


def _clock(seconds: int | None) -> str:
    return "—" if seconds is None else f"{seconds // 60}:{seconds % 60:02d}"


def _drawer_time(seconds: int) -> str:
    """Open-drawer time: minutes under an hour ("0.0 h" would hide it), else hours."""
    if seconds < 3600:
        return f"{round(seconds / 60)} drawer min"
    return f"{seconds / 3600:.1f} drawer h"


def _table(rows: list[list], widths: list[float], *, first_number: int = 1) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), FONT_BOLD, 8.5),
                ("FONT", (0, 1), (-1, -1), FONT, 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E4E8EE")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("ALIGN", (first_number, 0), (-1, -1), "RIGHT"),
            ]
        )
    )
    return table


def _bar_chart(
    labels: list[str], values: list[int], *, width: float, title: str, x_title: str, fills=None
) -> Drawing:
    height = 1.9 * inch
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 34, 30
    chart.width, chart.height = width - 44, height - 52
    chart.data = [values or [0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6.5
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    step = nice_step(max(values, default=0) or 1)
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueStep = step
    chart.valueAxis.valueMax = step * (max(values, default=0) // step + 1)  # room for labels
    chart.valueAxis.gridStrokeColor = colors.HexColor("#D0D5DA")
    chart.valueAxis.visibleGrid = True
    chart.bars[0].fillColor = BLUE
    chart.bars[0].strokeColor = None
    for i, fill in enumerate(fills or []):
        chart.bars[(0, i)].fillColor = fill
    chart.barLabelFormat = lambda v: str(int(v)) if v else ""
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 6
    drawing.add(chart)
    drawing.add(String(chart.x, height - 12, title, fontName=FONT_BOLD, fontSize=9.5))
    drawing.add(
        String(
            chart.x + chart.width / 2, 4, x_title, fontName=FONT, fontSize=7.5, textAnchor="middle"
        )
    )
    return drawing


def arrivals_drawing(m: Measures, width: float) -> Drawing:
    hours = arrival_hours(m)
    return _bar_chart(
        [f"{h:02d}" for h in hours],
        [m.hourly_arrivals[h] for h in hours],
        width=width,
        title="Arrivals by hour of day",
        x_title="Hour of day (local time)",
    )


def waits_drawing(m: Measures, width: float) -> Drawing:
    bins = m.wait_histogram
    return _bar_chart(
        [f"{b.low_minutes}+" if b.high_minutes is None else str(b.low_minutes) for b in bins],
        [b.count for b in bins],
        width=width,
        title="Wait from ticket to call (tickets)",
        x_title=f"Minutes waited, 5-minute bins (orange: from {m.target_minutes} min)",
        fills=[ORANGE if b.low_minutes >= m.target_minutes else BLUE for b in bins],
    )


def measures_story(m: Measures, width: float) -> list:
    """Flowables for the measures page (starts with its title; the caller adds a page break)."""
    story: list = [Paragraph(f"Performance measures · {m.period.label}", _TITLE)]
    tph = m.transactions_per_staffed_hour
    rows = [
        ["Measure", "Value", "Of"],
        ["Visits (customers arriving)", m.visits, f"{m.arrivals} arrivals"],
        [
            "Average wait, ticket to call (m:ss)",
            _clock(m.wait.mean_seconds),
            f"{m.wait.count} called",
        ],
        ["90th percentile wait (m:ss)", _clock(m.wait.p90_seconds), f"{m.wait.count} called"],
        [
            f"Served within {m.target_minutes} minutes",
            m.within_target.percent(),
            f"{m.within_target.numerator} of {m.within_target.denominator}",
        ],
        [
            "Average service time (m:ss)",
            _clock(m.service.mean_seconds),
            f"{m.service.count} visits",
        ],
        ["90th percentile service time (m:ss)", _clock(m.service.p90_seconds), ""],
        [
            "Abandonment (no-show or never called)",
            m.abandonment.percent(),
            f"{m.abandonment.numerator} of {m.abandonment.denominator} tickets",
        ],
        [
            "Self-service rate (kiosk payments)",
            m.self_service.percent(),
            f"{m.self_service.numerator} of {m.self_service.denominator} payments",
        ],
        [
            "Kiosk hand-offs to the counter",
            m.hand_offs.numerator,
            f"{m.hand_offs.percent()} of {m.hand_offs.denominator} kiosk visits",
        ],
        [
            "Transactions per staffed hour",
            "—" if tph is None else f"{tph:.2f}",
            f"{m.counter_transactions} / {_drawer_time(m.staffed_seconds)}",
        ],
    ]
    story.append(_table(rows, [width - 3.4 * inch, 1.2 * inch, 2.2 * inch]))
    half = (width - 0.2 * inch) / 2
    charts = Table(
        [[arrivals_drawing(m, half), waits_drawing(m, half)]], colWidths=[half + 0.1 * inch] * 2
    )
    charts.setStyle(
        TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 8)])
    )
    story.append(charts)

    columns = []
    third = width / 3
    for title, items in (
        ("Reason", m.by_reason),
        ("Outcome", m.by_outcome),
        ("Channel", m.by_channel),
    ):
        rows = [[title, "Visits"]] + (
            [[Paragraph(escape(c.label), _CELL), c.count] for c in items] or [["None", ""]]
        )
        columns.append(_table(rows, [third - 0.8 * inch, 0.6 * inch]))
    breakdown = Table([columns], colWidths=[third] * 3)
    breakdown.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    story.append(Paragraph("Visits by reason, outcome and channel", _TITLE))
    story.append(breakdown)
    story.append(
        Paragraph(
            "A visit may carry several reasons. Definitions: docs/measures.md. Durations are whole "
            "seconds; the 90th percentile is the nearest-rank value.",
            _NOTE,
        )
    )
    return story


def day_measures(session, report, target_minutes: int | None = None) -> Measures:
    """The day's measures for a daily report (same office, same business day)."""
    return measures_module.compute(
        session,
        report.office_id,
        "day",
        report.business_date,
        target_minutes=target_minutes or measures_module.DEFAULT_TARGET_MINUTES,
    )
