"""A receipt prints right after the payment commits, without waiting for the worker."""

from __future__ import annotations

import time
from pathlib import Path

from kiosk import create_app
from tests.receipts.conftest import make_world, pay


def test_receipt_prints_after_commit_without_the_worker(database_url, engine, office, tmp_path):
    app = create_app(
        {
            "ENV_NAME": "test",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test",
            "PRINT_IMMEDIATELY": True,
        }
    )
    sessions = app.extensions["payoffice.db"].sessions
    try:
        with sessions() as session:
            world = make_world(session, office, None)  # preview:// - saved under instance/
            payment = pay(session, world, 2500)
            saved = Path(app.instance_path) / "receipts" / f"{payment.receipt_number}_copy1.txt"
        deadline = time.monotonic() + 20
        while not saved.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved.exists(), "the receipt was not printed after the commit"
        assert payment.receipt_number in saved.read_text(encoding="utf-8")
    finally:
        app.extensions["payoffice.db"].engine.dispose()
