"""``payoffice worker``: delivers the transactional outbox (CIS, and whatever else registers).

Extension point: a module that adds an outbox topic registers a handler factory here, at
import time, and adds its module name to ``HANDLER_MODULES`` (or is imported by create_app)::

    from kiosk.worker import register_handler

    def make_print_handler(config):          # config: the Flask app config
        def deliver(message): ...            # raise payments.outbox.DeliveryError to retry
        return deliver

    register_handler("print", make_print_handler)

Handlers run inside the Flask application context (``kiosk.db.database()`` works) but outside
any transaction; they must be idempotent by ``message.key``.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from payments import outbox
from payments.outbox import DeliveryError, Handler, OutboxMessage

log = logging.getLogger("payoffice.worker")

HandlerFactory = Callable[[Mapping[str, Any]], Handler]

_registry: dict[str, HandlerFactory] = {}

# Modules imported before handlers are built, so their register_handler calls run. A module
# that is not there (yet) is skipped.
HANDLER_MODULES: list[str] = ["kiosk.receipting", "kiosk.cis.posting_batches"]


def register_handler(topic: str, factory: HandlerFactory) -> None:
    """Deliver messages of ``topic`` with the handler ``factory(app_config)`` returns."""
    _registry[topic] = factory


def registered_topics() -> list[str]:
    return sorted(_registry)


def _import_handler_modules() -> None:
    for name in HANDLER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            log.debug("handler module %s not present", name)


def _cis_factory(config: Mapping[str, Any]) -> Handler:
    from kiosk.cis.base import adapter_from_config

    return adapter_from_config(config).deliver


def _logged(topic: str, handler: Handler) -> Handler:
    """Log one line per failed delivery (crashes are logged with a traceback by the outbox)."""

    def deliver(message: OutboxMessage) -> str | None:
        try:
            return handler(message)
        except DeliveryError as exc:
            log.warning(
                "delivery failed: %s %s (attempt %d): %s",
                topic,
                message.key,
                message.attempts,
                exc,
            )
            raise

    return deliver


def build_handlers(app_config: Mapping[str, Any]) -> dict[str, Handler]:
    """topic -> handler: every CIS topic to the configured CIS adapter, plus registered ones."""
    from kiosk.cis.base import TOPICS

    _import_handler_modules()
    cis = _cis_factory(app_config)
    handlers: dict[str, Handler] = {topic: cis for topic in TOPICS}
    for topic, factory in _registry.items():
        handlers[topic] = factory(app_config)
    return {topic: _logged(topic, h) for topic, h in handlers.items()}


def drain(
    sessions,
    handlers: Mapping[str, Handler],
    *,
    limit: int = 100,
    stop: threading.Event | None = None,
) -> outbox.DeliveryRun:
    """Deliver everything that is due now, in batches of ``limit`` (``stop`` is checked
    between batches)."""
    total = outbox.DeliveryRun()
    while stop is None or not stop.is_set():
        run = outbox.deliver_due(sessions, handlers, limit=limit)
        total.delivered += run.delivered
        total.failed += run.failed
        if run.delivered + run.failed < limit:
            break
    return total


def run_worker(
    sessions,
    handlers: Mapping[str, Handler],
    *,
    interval: float,
    stop: threading.Event,
    limit: int = 100,
    periodic: Sequence[tuple[float, Callable[[], object]]] = (),
) -> None:
    """Deliver until ``stop`` is set, sleeping ``interval`` seconds when nothing is due.
    ``periodic`` tasks (every_seconds, task) run at start-up and then whenever due."""
    next_run = [0.0] * len(periodic)
    while not stop.is_set():
        for i, (every, task) in enumerate(periodic):
            if time.monotonic() >= next_run[i]:
                next_run[i] = time.monotonic() + every
                try:
                    task()
                except Exception:  # noqa: BLE001 - e.g. the card processor is unreachable
                    log.exception("periodic task %s failed", getattr(task, "__name__", task))
        try:
            drain(sessions, handlers, limit=limit, stop=stop)
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
            log.exception("outbox pass failed; retrying in %s s", interval)
        stop.wait(interval)


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between passes (default PAYOFFICE_WORKER_INTERVAL_SECONDS).",
)
@click.option("--limit", type=click.IntRange(min=1), default=100, help="Messages per batch.")
@with_appcontext
def worker_command(once: bool, interval: float | None, limit: int) -> None:
    """Deliver the outbox: CIS records, receipts to print, emails."""
    from kiosk import db

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = current_app.config
    try:
        handlers = build_handlers(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    sessions = db.database().sessions
    from kiosk.webhooks import recovery_task  # settles card payments left in flight

    sweep = recovery_task(current_app._get_current_object())
    if once:
        if sweep:
            sweep()
        run = drain(sessions, handlers, limit=limit)
        click.echo(f"outbox: {run.delivered} delivered, {run.failed} failed")
        return

    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    every = interval or float(config.get("WORKER_INTERVAL_SECONDS") or 5)
    click.echo(f"worker: delivering {', '.join(sorted(handlers))} every {every:g} s")
    try:
        periodic = [(60.0, sweep)] if sweep else []
        run_worker(sessions, handlers, interval=every, stop=stop, limit=limit, periodic=periodic)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("worker: stopped")
