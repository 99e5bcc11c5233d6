"""The office server: ``create_app`` builds the Flask application (Flask tutorial style)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from kiosk import config as config_module
from kiosk.config import REPO_ROOT


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` overrides settings read from the environment."""
    settings = config_module.load(overrides=config)
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
    )
    app.config.update(settings)
    app.config["TESTING"] = app.config.get("TESTING", settings["ENV_NAME"] == "test")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from kiosk import db, i18n, security

    db.init_app(app)
    i18n.init_app(app)
    security.init_app(app)

    from kiosk import auth, payment_hooks
    from kiosk.api import bp as api_bp
    from kiosk.api import health_bp
    from kiosk.views import admin, counter, customer, finance, finance_measures, home

    auth.init_app(app)
    payment_hooks.register()
    from kiosk import receipting

    receipting.register()  # after payment_hooks: receipts show the balance after payment
    receipting.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(customer.bp, url_prefix="/kiosk")
    app.register_blueprint(counter.bp, url_prefix="/counter")
    app.register_blueprint(finance.bp, url_prefix="/finance")
    from kiosk.views import finance_audit, finance_deposit

    app.register_blueprint(finance_deposit.bp, url_prefix="/finance")  # deposit, postings
    app.register_blueprint(finance_audit.bp, url_prefix="/finance")  # audit log viewer
    app.register_blueprint(finance_measures.bp, url_prefix="/finance")
    from kiosk.views import finance_day, finance_recon, finance_review

    app.register_blueprint(finance_recon.bp, url_prefix="/finance/reconciliation")
    app.register_blueprint(finance_review.bp, url_prefix="/finance/review")  # flagged payments
    app.register_blueprint(finance_day.bp, url_prefix="/finance")  # business day, close
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    from kiosk import webhooks

    webhooks.init_app(app)  # POST /webhooks/stripe; the Stripe gateway when configured
    from kiosk.views import counter_drawer, counter_lock, counter_override

    counter_lock.init_app(app)  # /counter/unlock, /counter/pin; the lock check on every request
    app.register_blueprint(counter_override.bp, url_prefix="/counter/payments")
    app.register_blueprint(counter_drawer.bp, url_prefix="/counter/drawer")
    from kiosk.views import counter_accounts

    app.register_blueprint(counter_accounts.bp, url_prefix="/counter")  # accounts, payments
    from kiosk.views import counter_queue, lobby

    app.register_blueprint(counter_queue.bp, url_prefix="/counter")  # /counter/queue, /visits
    app.register_blueprint(lobby.bp, url_prefix="/lobby")  # public now-serving screen
    from kiosk.views import counter_stations

    app.register_blueprint(counter_stations.bp, url_prefix="/counter")  # held stations
    security.check_every_route_declares_access(app)
    return app
