"""JSON API v1: the contract used by the kiosk pages, the counter and outside tools."""

from flask import Blueprint

bp = Blueprint("api", __name__)
health_bp = Blueprint("health", __name__)

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
