"""Finance: business days, reconciliation, reports."""

from flask import Blueprint, render_template

from kiosk import db
from kiosk.access import access
from payments import outbox

bp = Blueprint("finance", __name__)


@bp.route("/")
@access("finance")
def index():
    from payments.db import business_date

    return render_template(
        "finance/index.html",
        outbox=outbox.state(db.session()),
        today=business_date().isoformat(),
    )
