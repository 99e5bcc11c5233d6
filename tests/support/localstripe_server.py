"""localstripe (a stateful fake Stripe server) run in-process on 127.0.0.1.

Its own command line binds to every interface and pickles its state to a fixed file in /tmp;
here it runs on an aiohttp ``AppRunner`` in a background thread with its own event loop, on a
free loopback port, with the pickling switched off. Extra aiohttp apps (the Terminal reader
stand-in) can share the same loop through ``add_app``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any

import requests
from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _disable_pickling() -> None:
    from localstripe.resources import Store

    Store.dump_to_disk = lambda self: None  # parallel runs would share /tmp/localstripe.pickle
    Store.try_load_from_disk = lambda self: None


class LoopThread:
    """An asyncio event loop running in a daemon thread; coroutines are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="aiohttp-loop", daemon=True)
        self._runners: list[web.AppRunner] = []
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add_app(self, app: web.Application, port: int | None = None) -> str:
        """Serve ``app`` on 127.0.0.1; returns its base URL."""
        port = port or free_port()

        async def start() -> None:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)

        self.call(start())
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def cleanup() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()

        try:
            self.call(cleanup(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


class LocalStripe:
    """localstripe on a loopback port. ``url`` is the API base for the stripe SDK."""

    def __init__(self, loop: LoopThread | None = None) -> None:
        _disable_pickling()
        from localstripe.server import app

        self._own_loop = loop is None
        self.loop = loop or LoopThread()
        self.url = self.loop.add_app(app)

    def reset(self) -> None:
        """Forget every object (between tests)."""
        r = requests.delete(f"{self.url}/_config/data", timeout=10)
        r.raise_for_status()

    def stop(self) -> None:
        if self._own_loop:
            self.loop.stop()
