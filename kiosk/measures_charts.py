"""Bar-chart geometry for the measures dashboard: the server computes every rectangle and
label, and the template draws them as SVG (no script, no external library)."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.measures import Measures

OPEN_HOUR, CLOSE_HOUR = 7, 18  # the hours always shown on the arrivals chart


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    x_title: str
    y_title: str
    width: int
    height: int
    left: float
    top: float
    plot_width: float
    plot_height: float
    bars: list[Bar]
    ticks: list[Tick]

    @property
    def bottom(self) -> float:
        return self.top + self.plot_height

    @property
    def right(self) -> float:
        return self.left + self.plot_width


def nice_step(maximum: int, most_ticks: int = 5) -> int:
    """A 1-2-5 step so that 0..maximum takes at most ``most_ticks`` steps."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if maximum <= step * most_ticks:
                return step
        magnitude *= 10


def bar_chart(
    chart_id: str,
    labels: list[str],
    values: list[int],
    *,
    title: str,
    description: str,
    x_title: str,
    y_title: str,
    width: int = 640,
    height: int = 260,
) -> BarChart:
    left, top, right_pad, bottom_pad = 48.0, 16.0, 12.0, 52.0
    plot_w, plot_h = width - left - right_pad, height - top - bottom_pad
    step = nice_step(max(values, default=0) or 1)
    top_value = step * (max(values, default=0) // step + 1)  # headroom for the value labels
    slot = plot_w / max(len(values), 1)
    gap = min(6.0, slot * 0.2)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top_value
        bars.append(
            Bar(
                x=round(left + i * slot + gap / 2, 2),
                y=round(top + plot_h - h, 2),
                width=round(slot - gap, 2),
                height=round(h, 2),
                value=value,
                label=label,
            )
        )
    ticks = [
        Tick(round(top + plot_h - plot_h * v / top_value, 2), str(v))
        for v in range(0, top_value + 1, step)
    ]
    return BarChart(
        chart_id, title, description, x_title, y_title, width, height, left, top, plot_w, plot_h,
        bars, ticks,
    )  # fmt: skip


def arrival_hours(m: Measures) -> list[int]:
    """The hours shown: office hours plus any hour that had an arrival."""
    busy = [h for h, n in enumerate(m.hourly_arrivals) if n]
    first = min([OPEN_HOUR, *busy])
    last = max([CLOSE_HOUR - 1, *busy])
    return list(range(first, last + 1))


def hour_label(hour: int) -> str:
    return f"{hour:02d}:00"


def arrivals_chart(m: Measures) -> BarChart:
    hours = arrival_hours(m)
    values = [m.hourly_arrivals[h] for h in hours]
    busiest = max(range(24), key=lambda h: m.hourly_arrivals[h])
    summary = (
        f"{m.arrivals} arrivals; busiest hour {hour_label(busiest)} with "
        f"{m.hourly_arrivals[busiest]}."
        if m.arrivals
        else "No arrivals in this period."
    )
    return bar_chart(
        "arrivals",
        [f"{h:02d}" for h in hours],
        values,
        title="Arrivals by hour of day",
        description=f"Bar chart of customers arriving in each local hour. {summary}",
        x_title="Hour of day (local time)",
        y_title="Arrivals",
    )


def wait_chart(m: Measures) -> BarChart:
    summary = (
        f"{m.wait.count} tickets called; {m.within_target.numerator} within "
        f"{m.target_minutes} minutes."
        if m.wait.count
        else "No tickets were called in this period."
    )
    return bar_chart(
        "waits",
        [
            f"{b.low_minutes}+" if b.high_minutes is None else str(b.low_minutes)
            for b in m.wait_histogram
        ],
        [b.count for b in m.wait_histogram],
        title="Wait from ticket to call",
        description=f"Histogram of waits in 5-minute bins. {summary}",
        x_title="Minutes waited (5-minute bins, by start)",
        y_title="Tickets",
    )
