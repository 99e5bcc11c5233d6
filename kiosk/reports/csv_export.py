"""The daily report as CSV: one flat table (section, name, kind, count, amount, detail) so a
spreadsheet can filter it. Amounts are plain decimals (``1234.56``), never floats."""

from __future__ import annotations

import csv
import io

from payments.money import format_plain
from payments.reports import DailyReport

HEADER = ["section", "name", "kind", "count", "amount", "detail"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> object:
    """Free text (names, reasons) cannot start a spreadsheet formula."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


class _Writer:
    def __init__(self, out: io.StringIO):
        self._w = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: list) -> None:
        # Only the name and detail columns hold free text; amounts may be negative.
        self._w.writerow([_text(v) if i in (1, 5) else v for i, v in enumerate(row)])


def daily_report_csv(report: DailyReport) -> str:
    out = io.StringIO()
    w = _Writer(out)
    w.writerow(HEADER)
    w.writerow(["report", report.office_name, report.office_code, "", "", "daily report"])
    w.writerow(["report", "business_date", report.day_status, "", "", report.business_date])
    for name, totals in (
        ("receipted", report.receipted),
        ("voided", report.voided),
        ("collected", report.collected),
        ("refunds", report.refunds),
    ):
        w.writerow(["totals", name, "", totals.count, format_plain(totals.amount_cents), ""])
    w.writerow(["totals", "fees", "", "", format_plain(report.fees_cents), ""])
    w.writerow(["totals", "net", "", "", format_plain(report.net_cents), ""])
    for t in report.tenders:
        detail = (
            f"tendered {format_plain(t.tendered_cents)}; change {format_plain(t.change_cents)}; "
            f"refunded {format_plain(t.refunded_cents)}; net {format_plain(t.net_cents)}"
        )
        w.writerow(["tender", t.kind, "", t.count, format_plain(t.collected_cents), detail])
    for section, groups in (("station", report.by_station), ("operator", report.by_operator)):
        for g in groups:
            w.writerow(
                [
                    section,
                    g.key,
                    g.kind,
                    g.count,
                    format_plain(g.amount_cents),
                    f"fees {format_plain(g.fee_cents)}",
                ]
            )
    for a in report.adjustments:
        detail = "; ".join(
            part
            for part in (
                f"receipt {a.receipt_number}" if a.receipt_number else "",
                f"approved by {a.approved_by}" if a.approved_by else "approved by (unknown)",
                a.reason or "",
            )
            if part
        )
        w.writerow([a.kind, a.payment_id, a.tender, 1, format_plain(a.amount_cents), detail])
    _card_rows(w, report)
    return out.getvalue()


def _card_rows(w: _Writer, report: DailyReport) -> None:
    """The Stripe reconciliation: matched charges, payouts and the open exceptions."""
    card = report.card
    if card is None:
        return
    if not card.reconciled:
        w.writerow(["card", "not reconciled", "", "", "", "no reconciliation run for this day"])
    else:
        detail = (
            f"stripe fees {format_plain(card.fee_cents)}; net {format_plain(card.net_cents)}; "
            f"not yet in a payout {card.unpaid_count}"
        )
        w.writerow(
            ["card", "matched", "", card.matched_count, format_plain(card.matched_cents), detail]
        )
    for p in card.payouts:
        days = " ".join(d.isoformat() for d in p.days)
        detail = (
            f"arrives {p.arrival_date.isoformat()}; payout total {format_plain(p.amount_cents)}; "
            f"carries {days}"
        )
        w.writerow(["payout", p.payout_id, p.status, "", format_plain(p.day_net_cents), detail])
    for e in card.open_exceptions:
        cents = e.expected_cents if e.expected_cents is not None else e.actual_cents
        detail = f"{e.business_date.isoformat()}; {e.ref}; {e.detail}"
        w.writerow(["exception", e.label, e.kind, 1, format_plain(cents or 0), detail])
