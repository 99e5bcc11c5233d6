"""``payoffice worker``: --once through click's runner, the handler registry, and a real
worker process stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from kiosk import worker
from kiosk.cis.base import TOPICS
from kiosk.cis.records import visit_record
from kiosk.worker import build_handlers, register_handler, run_worker, worker_command
from payments import outbox
from payments.outbox import DeliveryError
from payments.posting import CIS_PAYMENT_TOPIC, CIS_VISIT_TOPIC, payment_record
from tests.kiosk.cis.conftest import make_records


@pytest.fixture
def registry():
    saved = dict(worker._registry)
    yield worker._registry
    worker._registry.clear()
    worker._registry.update(saved)


def _enqueue(sessions):
    with sessions.begin() as s:
        r = make_records(s)
        outbox.enqueue(s, CIS_PAYMENT_TOPIC, r.payment.id, payment_record(r.payment, "SA"))
        outbox.enqueue(s, CIS_VISIT_TOPIC, r.visit.id, visit_record(r.visit, "SA"))
        return r.payment.id, r.visit.id


def test_worker_once_delivers_to_the_file_cis(app, sessions):
    payment_id, visit_id = _enqueue(sessions)
    result = app.test_cli_runner().invoke(worker_command, ["--once"])
    assert result.exit_code == 0, result.output
    assert "2 delivered, 0 failed" in result.output
    outbound = os.path.join(app.config["CIS_EXCHANGE_DIR"], "outbound")
    assert sorted(os.listdir(outbound)) == sorted(
        [f"payment_{payment_id}.json", f"visit_{visit_id}.json"]
    )
    again = app.test_cli_runner().invoke(worker_command, ["--once"])
    assert "0 delivered, 0 failed" in again.output


def test_registered_handlers_join_the_cis_topics(app, sessions, registry, caplog):
    seen = []

    def make_print_handler(config):
        def deliver(message):
            seen.append(message.key)
            if message.key == "jam":
                raise DeliveryError("paper out")
            return "printed"

        return deliver

    register_handler("print", make_print_handler)
    handlers = build_handlers(app.config)
    assert set(TOPICS) <= set(handlers) and "print" in handlers
    with sessions.begin() as s:
        outbox.enqueue(s, "print", "R-1", {"copy": 1})
        outbox.enqueue(s, "print", "jam", {"copy": 1})
    result = app.test_cli_runner().invoke(worker_command, ["--once"])
    assert "1 delivered, 1 failed" in result.output
    assert sorted(seen) == ["R-1", "jam"]
    failures = [r for r in caplog.records if "delivery failed" in r.getMessage()]
    assert len(failures) == 1 and "print jam (attempt 1): paper out" in failures[0].getMessage()


def test_run_worker_stops_when_asked(app, sessions):
    _enqueue(sessions)
    stop = threading.Event()
    delivered = []
    handlers = build_handlers(app.config)

    def recording(message):
        delivered.append(message.key)
        if len(delivered) == 2:
            stop.set()
        return "ok"

    handlers = {topic: recording for topic in handlers}
    thread = threading.Thread(
        target=run_worker, args=(sessions, handlers), kwargs={"interval": 0.05, "stop": stop}
    )
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(delivered) == 2


def test_worker_process_stops_cleanly_on_sigterm(database_url, tmp_path, engine):
    env = dict(
        os.environ,
        PAYOFFICE_ENV="test",
        PAYOFFICE_DATABASE_URL=database_url,
        PAYOFFICE_INSTANCE_PATH=str(tmp_path / "instance"),
        PAYOFFICE_SECRET_KEY="x" * 32,
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kiosk.cli import main; main()", "worker", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("worker: delivering"), first
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "worker: stopped" in out
