"""Finance and admin: the audit log viewer (filters, pages) and "verify chain", which walks
the hash chain and names the first broken entry."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, render_template, request, url_for

from kiosk import db
from kiosk.access import access
from payments import audit, audit_view
from payments.db import office_time

bp = Blueprint("finance_audit", __name__)

WHEN = "%Y-%m-%d %-I:%M:%S %p"  # the office's clock, to the second
DETAIL_CHARS = 160


def _when(at: dt.datetime) -> str:
    return office_time(at, WHEN)


def _details(raw: str | None) -> list[tuple[str, str]]:
    """An entry's JSON details as (key, value) pairs to read; text that is not a JSON object
    comes back as one pair with an empty key."""
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return [("", raw[:DETAIL_CHARS])]
    pairs = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(text) > DETAIL_CHARS:
            text = text[: DETAIL_CHARS - 1] + "…"
        pairs.append((str(key), text))
    return pairs


def _page(report: audit.ChainReport | None = None):
    session = db.session()
    error, status = None, 200
    try:
        filters = audit_view.parse_filter(request.args.to_dict())
        page_no = audit_view.parse_page(request.args.get("page"))
    except audit_view.AuditFilterError as exc:
        filters, page_no, error, status = audit_view.AuditFilter(), 1, exc.message, 400
    page = audit_view.search(session, filters, page=page_no)
    args = filters.as_args()

    def page_url(n: int) -> str:
        return url_for("finance_audit.audit_log", page=n, **args)

    broken_url = None
    if report is not None and report.first_broken_seq is not None:
        newer = audit_view.newer_than(session, report.first_broken_seq)
        n = newer // audit_view.PER_PAGE + 1
        broken_url = url_for("finance_audit.audit_log", page=n) + f"#seq-{report.first_broken_seq}"

    return (
        render_template(
            "finance/audit.html",
            page=page,
            filters=filters,
            args=args,
            page_url=page_url,
            actions=audit_view.actions(session),
            report=report,
            broken_url=broken_url,
            error=error,
            when=_when,
            details=_details,
        ),
        status,
    )


@bp.route("/audit")
@access("finance", "admin")
def audit_log():
    return _page()


@bp.route("/audit/verify")
@access("finance", "admin")
def verify_chain():
    """Read-only, so a GET: walks the whole chain (batched) and reports."""
    return _page(audit.verify(db.session()))
