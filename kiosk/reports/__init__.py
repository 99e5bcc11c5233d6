"""Renderers of finance reports: the daily report as CSV and PDF (JSON is ``as_dict``)."""

from kiosk.reports.csv_export import daily_report_csv
from kiosk.reports.pdf import daily_report_pdf

__all__ = ["daily_report_csv", "daily_report_pdf", "office_daily_report_pdf"]


def office_daily_report_pdf(session, report, service_target_minutes: int | None = None) -> bytes:
    """The daily report PDF as the office prints it: the report, its cash drawers and the
    performance-measures page, read for the report's office and business day."""
    from kiosk.reports.drawers import day_drawers
    from kiosk.reports.measures_pdf import day_measures

    return daily_report_pdf(
        report,
        measures=day_measures(session, report, service_target_minutes),
        drawers=day_drawers(session, report.office_id, report.business_date),
    )
