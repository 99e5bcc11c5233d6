"""Finance: business days, reconciliation, reports."""

import datetime as dt

from flask import Blueprint, render_template

from kiosk import db
from kiosk.access import access
from payments import outbox
from payments.db import DATE_AND_CLOCK, office_time

bp = Blueprint("finance", __name__)


@bp.app_template_filter("office_datetime")
def office_datetime(at: dt.datetime | None) -> str:
    """A stored UTC instant as the office's date and clock ("2026-11-23 10:32 PM")."""
    return office_time(at, DATE_AND_CLOCK)


@bp.route("/")
@access("finance")
def index():
    from payments.db import business_date

    return render_template(
        "finance/index.html",
        outbox=outbox.state(db.session()),
        today=business_date().isoformat(),
    )
