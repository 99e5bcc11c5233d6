"""Settings, read once from ``PAYOFFICE_*`` environment variables (documented in
docs/configuration.md). ``create_app(config=...)`` overrides take precedence."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    pass


def _bool(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"expected a yes/no value, got {value!r}")


def _int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise ConfigError(f"expected a whole number, got {value!r}") from exc


# name -> (Flask config key, parser, default). Defaults that depend on the instance folder
# are filled in by load().
SETTINGS: dict[str, tuple[str, Any, Any]] = {
    "PAYOFFICE_ENV": ("ENV_NAME", str, "demo"),
    "PAYOFFICE_DATABASE_URL": ("DATABASE_URL", str, None),
    "PAYOFFICE_SECRET_KEY": ("SECRET_KEY", str, None),
    "PAYOFFICE_OFFICE_CODE": ("OFFICE_CODE", str, "SA"),
    "PAYOFFICE_BASE_URL": ("BASE_URL", str, "http://127.0.0.1:8000"),
    "PAYOFFICE_SESSION_COOKIE_SECURE": ("SESSION_COOKIE_SECURE", _bool, None),
    "PAYOFFICE_LOGIN_MAX_FAILURES": ("LOGIN_MAX_FAILURES", _int, 5),
    "PAYOFFICE_LOGIN_LOCKOUT_MINUTES": ("LOGIN_LOCKOUT_MINUTES", _int, 15),
    "PAYOFFICE_LOGIN_MAX_FAILURES_PER_ADDRESS": ("LOGIN_MAX_FAILURES_PER_ADDRESS", _int, 50),
    "PAYOFFICE_PROXY_HOPS": ("PROXY_HOPS", _int, 0),
    "PAYOFFICE_PAIR_MAX_FAILURES": ("PAIR_MAX_FAILURES", _int, 10),
    "PAYOFFICE_PAIRING_CODE_MINUTES": ("PAIRING_CODE_MINUTES", _int, 30),
    "PAYOFFICE_LOOKUP_RATE_PER_MINUTE": ("LOOKUP_RATE_PER_MINUTE", _int, 30),
    "PAYOFFICE_CARD_GATEWAY": ("CARD_GATEWAY", str, "simulated"),
    "PAYOFFICE_STRIPE_SECRET_KEY": ("STRIPE_SECRET_KEY", str, None),
    "PAYOFFICE_STRIPE_API_BASE": ("STRIPE_API_BASE", str, "https://api.stripe.com"),
    "PAYOFFICE_STRIPE_WEBHOOK_SECRET": ("STRIPE_WEBHOOK_SECRET", str, None),
    # The recovery sweep cancels a card attempt still pending after this long
    "PAYOFFICE_CARD_ABANDON_MINUTES": ("CARD_ABANDON_MINUTES", _int, 15),
    # Card reconciliation: a matched charge in no payout this many days later is an exception
    "PAYOFFICE_PAYOUT_GRACE_DAYS": ("PAYOUT_GRACE_DAYS", _int, 5),
    "PAYOFFICE_CIS_ADAPTER": ("CIS_ADAPTER", str, "file"),
    "PAYOFFICE_CIS_ENDPOINT": ("CIS_ENDPOINT", str, None),
    "PAYOFFICE_CIS_TOKEN": ("CIS_TOKEN", str, None),
    "PAYOFFICE_CIS_TIMEOUT_SECONDS": ("CIS_TIMEOUT_SECONDS", _int, 10),
    "PAYOFFICE_CIS_RETRIES": ("CIS_RETRIES", _int, 2),
    "PAYOFFICE_CIS_EXCHANGE_DIR": ("CIS_EXCHANGE_DIR", str, None),
    "PAYOFFICE_SMTP_HOST": ("SMTP_HOST", str, None),
    "PAYOFFICE_SMTP_PORT": ("SMTP_PORT", _int, 587),
    "PAYOFFICE_SMTP_USERNAME": ("SMTP_USERNAME", str, None),
    "PAYOFFICE_SMTP_PASSWORD": ("SMTP_PASSWORD", str, None),
    "PAYOFFICE_SMTP_STARTTLS": ("SMTP_STARTTLS", _bool, True),
    "PAYOFFICE_MAIL_FROM": ("MAIL_FROM", str, "receipts@payoffice.invalid"),
    "PAYOFFICE_PRINT_IMMEDIATELY": ("PRINT_IMMEDIATELY", _bool, True),
    "PAYOFFICE_WORKER_INTERVAL_SECONDS": ("WORKER_INTERVAL_SECONDS", _int, 5),
    # Customer kiosk: idle timeout, then "Need more time?" for the warning period
    "PAYOFFICE_KIOSK_IDLE_SECONDS": ("KIOSK_IDLE_SECONDS", _int, 60),
    "PAYOFFICE_KIOSK_IDLE_WARNING_SECONDS": ("KIOSK_IDLE_WARNING_SECONDS", _int, 30),
    "PAYOFFICE_KIOSK_PAY_POLL_MS": ("KIOSK_PAY_POLL_MS", _int, 1000),
    "PAYOFFICE_QUEUE_MINUTES_PER_CUSTOMER": ("QUEUE_MINUTES_PER_CUSTOMER", _int, 6),
    # Performance measures: "served within" target for the wait (kiosk.measures)
    "PAYOFFICE_SERVICE_TARGET_MINUTES": ("SERVICE_TARGET_MINUTES", _int, 15),
    # Payment rules (payments.rules.PaymentRules.from_settings)
    "PAYOFFICE_KIOSK_MIN_CENTS": ("PAYMENT_KIOSK_MIN_CENTS", _int, 1),
    "PAYOFFICE_KIOSK_MAX_CENTS": ("PAYMENT_KIOSK_MAX_CENTS", _int, 200_000),
    "PAYOFFICE_COUNTER_MIN_CENTS": ("PAYMENT_COUNTER_MIN_CENTS", _int, 1),
    "PAYOFFICE_COUNTER_MAX_CENTS": ("PAYMENT_COUNTER_MAX_CENTS", _int, 1_000_000),
    "PAYOFFICE_ALLOW_OVERPAYMENT": ("PAYMENT_ALLOW_OVERPAYMENT", _bool, True),
    "PAYOFFICE_ALLOW_PARTIAL_PAYMENTS": ("PAYMENT_ALLOW_PARTIAL", _bool, True),
    "PAYOFFICE_CARD_FEE_CENTS": ("PAYMENT_CARD_FEE_CENTS", _int, 0),
    "PAYOFFICE_DUPLICATE_WINDOW_MINUTES": ("PAYMENT_DUPLICATE_WINDOW_MINUTES", _int, 10),
    # Cash drawer over/short beyond this needs a supervisor's approval (payments.drawer)
    "PAYOFFICE_DRAWER_TOLERANCE_CENTS": ("DRAWER_TOLERANCE_CENTS", _int, 500),
    # Counter screens lock after this many seconds without activity (0: never)
    "PAYOFFICE_COUNTER_LOCK_SECONDS": ("COUNTER_LOCK_SECONDS", _int, 300),
}

ENVIRONMENTS = ("demo", "production", "test")


def instance_path(environ: Mapping[str, str] = os.environ) -> Path:
    raw = environ.get("PAYOFFICE_INSTANCE_PATH")
    return Path(raw).expanduser().resolve() if raw else REPO_ROOT / "instance"


def load(
    environ: Mapping[str, str] = os.environ, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build the Flask config dict from the environment plus explicit overrides."""
    overrides = dict(overrides or {})
    inst = Path(overrides.pop("INSTANCE_PATH", None) or instance_path(environ))
    cfg: dict[str, Any] = {"INSTANCE_PATH": str(inst)}
    for env_name, (key, parse, default) in SETTINGS.items():
        raw = environ.get(env_name)
        if raw is not None and raw != "":
            try:
                cfg[key] = parse(raw)
            except ConfigError as exc:
                raise ConfigError(f"{env_name}: {exc}") from exc
        else:
            cfg[key] = default
    cfg.update(overrides)

    if cfg["ENV_NAME"] not in ENVIRONMENTS:
        raise ConfigError(f"PAYOFFICE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    production = cfg["ENV_NAME"] == "production"
    cfg["DATABASE_URL"] = cfg["DATABASE_URL"] or f"sqlite:///{inst / 'payoffice.db'}"
    cfg["CIS_EXCHANGE_DIR"] = cfg["CIS_EXCHANGE_DIR"] or str(inst / "cis")
    if cfg["SESSION_COOKIE_SECURE"] is None:
        cfg["SESSION_COOKIE_SECURE"] = production
    if not cfg["SECRET_KEY"]:
        if production:
            raise ConfigError("PAYOFFICE_SECRET_KEY must be set in production")
        cfg["SECRET_KEY"] = _demo_secret(inst)
    if production and cfg["CARD_GATEWAY"] == "stripe" and not cfg["STRIPE_WEBHOOK_SECRET"]:
        raise ConfigError("PAYOFFICE_STRIPE_WEBHOOK_SECRET must be set to take Stripe payments")
    if cfg["CIS_ADAPTER"] not in ("file", "http"):
        raise ConfigError("PAYOFFICE_CIS_ADAPTER must be 'file' or 'http'")
    if cfg["CIS_ADAPTER"] == "http" and not cfg["CIS_ENDPOINT"]:
        raise ConfigError("PAYOFFICE_CIS_ENDPOINT must be set for the http CIS adapter")
    if cfg["DRAWER_TOLERANCE_CENTS"] < 0:
        raise ConfigError("PAYOFFICE_DRAWER_TOLERANCE_CENTS cannot be negative")
    if cfg["CARD_GATEWAY"] not in ("simulated", "stripe"):
        raise ConfigError("PAYOFFICE_CARD_GATEWAY must be 'simulated' or 'stripe'")
    if cfg["CARD_GATEWAY"] == "stripe" and not cfg["STRIPE_SECRET_KEY"]:
        raise ConfigError("PAYOFFICE_STRIPE_SECRET_KEY must be set to take Stripe payments")
    cfg.setdefault("SESSION_COOKIE_HTTPONLY", True)
    cfg.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    cfg.setdefault("SESSION_COOKIE_NAME", "payoffice_session")
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    cfg.setdefault("MAX_CONTENT_LENGTH", 64 * 1024 * 1024)
    return cfg


def _demo_secret(inst: Path) -> str:
    """Outside production a random key is kept in the instance folder so sessions survive
    a restart; production must pass PAYOFFICE_SECRET_KEY."""
    inst.mkdir(parents=True, exist_ok=True)
    path = inst / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
