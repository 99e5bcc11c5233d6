"""The docs/ sample daily report carries the card section and the measures page."""

from __future__ import annotations

import re

from kiosk.reports import sample
from kiosk.reports.pdf import daily_report_pdf


def test_sample_report_has_card_section_and_measures_page():
    report = sample.sample_report()
    card = report.card
    assert card is not None and card.reconciled
    assert card.net_cents == card.matched_cents - card.fee_cents
    assert sum(p.day_net_cents for p in card.payouts) == card.net_cents
    measures = sample.sample_measures()
    assert sum(b.count for b in measures.wait_histogram) == measures.wait.count
    assert sum(measures.hourly_arrivals) == measures.arrivals
    with_measures = daily_report_pdf(report, measures)
    without = daily_report_pdf(report)
    pages = lambda pdf: len(re.findall(rb"/Type\s*/Page[^s]", pdf))  # noqa: E731
    assert pages(with_measures) == pages(without) + 1
