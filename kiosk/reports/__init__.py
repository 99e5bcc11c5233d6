"""Renderers of finance reports: the daily report as CSV and PDF (JSON is ``as_dict``)."""

from kiosk.reports.csv_export import daily_report_csv
from kiosk.reports.pdf import daily_report_pdf

__all__ = ["daily_report_csv", "daily_report_pdf"]
