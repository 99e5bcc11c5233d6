"""Payment rules from settings (PAYOFFICE_* environment variables through kiosk.config)."""

import datetime as dt

from kiosk import config
from payments.rules import PaymentRules


def test_defaults():
    rules = PaymentRules.from_settings(config.load(environ={}))
    kiosk = rules.limits_for("kiosk")
    assert (kiosk.minimum, kiosk.maximum) == (1, 200_000)
    assert rules.limits_for("counter").maximum == 1_000_000
    assert rules.allow_overpayment and rules.allow_partial
    assert rules.card_fee_cents == 0
    assert rules.duplicate_window == dt.timedelta(minutes=10)


def test_from_environment(tmp_path):
    environ = {
        "PAYOFFICE_INSTANCE_PATH": str(tmp_path),
        "PAYOFFICE_KIOSK_MIN_CENTS": "500",
        "PAYOFFICE_KIOSK_MAX_CENTS": "50000",
        "PAYOFFICE_COUNTER_MAX_CENTS": "250000",
        "PAYOFFICE_ALLOW_OVERPAYMENT": "no",
        "PAYOFFICE_ALLOW_PARTIAL_PAYMENTS": "false",
        "PAYOFFICE_CARD_FEE_CENTS": "195",
        "PAYOFFICE_DUPLICATE_WINDOW_MINUTES": "0",
    }
    rules = PaymentRules.from_settings(config.load(environ=environ))
    assert (rules.limits_for("kiosk").minimum, rules.limits_for("kiosk").maximum) == (500, 50000)
    assert rules.limits_for("counter").maximum == 250_000
    assert not rules.allow_overpayment and not rules.allow_partial
    assert rules.card_fee_cents == 195
    assert rules.duplicate_window == dt.timedelta(0)
