"""JSON API v1: the contract used by the kiosk pages, the counter and outside tools."""

from flask import Blueprint

from payments.states import PaymentError

bp = Blueprint("api", __name__)
health_bp = Blueprint("health", __name__)


@bp.errorhandler(PaymentError)
def _refused(exc: PaymentError):
    """A refusal from the domain or from reading the request: nothing the request wrote is
    kept, and the caller gets the JSON error with its status (one place for every view)."""
    from kiosk import db
    from kiosk.api.common import error_response

    db.session().rollback()
    return error_response(exc)


from kiosk.api import (  # noqa: E402,F401  (register routes)
    accounts,
    deposits,
    drawers,
    health,
    measures,
    openapi,
    payments,
    queue,
    receipts,
    reconciliation,
    reports,
    service_requests,
    tickets,
)
