from flask import jsonify
from sqlalchemy import text

from kiosk import db
from kiosk.access import access
from kiosk.api import health_bp
from payments import outbox


@health_bp.route("/healthz")
@access("public")
def healthz():
    """Database reachable and outbox backlog; 503 when the database is down."""
    session = db.session()
    try:
        session.execute(text("SELECT 1"))
        state = outbox.state(session)
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return jsonify({"status": "unavailable", "database": "down"}), 503
    oldest = state.oldest_pending_at.isoformat() if state.oldest_pending_at else None
    return jsonify(
        {
            "status": "ok",
            "database": "up",
            "outbox": {
                "pending": state.pending,
                "failing": state.failing,
                "oldest_pending_at": oldest,
            },
        }
    )
