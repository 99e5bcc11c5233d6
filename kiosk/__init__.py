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
    from kiosk.views import admin, counter, customer, finance, home

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
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    from kiosk import webhooks

    webhooks.init_app(app)  # POST /webhooks/stripe; the Stripe gateway when configured
    security.check_every_route_declares_access(app)
    return app
