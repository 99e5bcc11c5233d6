"""Browser tests: the app served by werkzeug on 127.0.0.1 (a free port, the test database),
driven by Debian's Chromium through Playwright, checked with axe-core (bundled by the PyPI
package axe-playwright-python; nothing is fetched from a CDN).

Fixtures: ``live_server`` (override ``kiosk_settings`` for short idle timeouts),
``kiosk_page`` (a page in a browser context paired as a kiosk), ``shots`` (screenshots to
test-artifacts/<test>/ at 1080x1920 portrait and 1920x1080 landscape, with an axe check).
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from kiosk import create_app
from kiosk.auth import DEVICE_COOKIE
from tests import factories
from tests.e2e.pages import ARTIFACTS, REPO, open_page  # noqa: F401  (re-exported)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}


def pytest_configure(config):
    config.addinivalue_line("markers", "kiosk_settings(**settings): settings for live_server")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run ./.ci/system-deps (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def kiosk_settings(request) -> dict:
    """Settings for the live app: ``@pytest.mark.kiosk_settings(KIOSK_IDLE_SECONDS=2)``."""
    marker = request.node.get_closest_marker("kiosk_settings")
    return dict(marker.kwargs) if marker else {}


@dataclass
class LiveServer:
    url: str
    app: object
    station_id: int
    device_token: str
    office_id: int

    @property
    def reader_id(self) -> str:
        return f"simulated-{self.station_id}"


@pytest.fixture
def live_server(engine, database_url, sessions, office, tmp_path, kiosk_settings):
    from kiosk.stations import pair

    settings = {
        "ENV_NAME": "test",
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "e2e-" + uuid.uuid4().hex,
        "KIOSK_PAY_POLL_MS": 300,
        **kiosk_settings,
    }
    app = create_app(settings)
    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "kiosk", name="Lobby kiosk")
        _, token = pair(s, code)
        s.commit()
        station_id = station.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(
            f"http://127.0.0.1:{server.server_port}", app, station_id, token, office.id
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["payoffice.db"].engine.dispose()


@pytest.fixture
def kiosk_page(browser, live_server):
    context = browser.new_context(viewport=PORTRAIT, base_url=live_server.url, locale="en-US")
    context.add_cookies(
        [
            {
                "name": DEVICE_COOKIE,
                "value": live_server.device_token,
                "url": live_server.url,
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
    page, errors = open_page(context)
    yield page
    context.close()
    assert not errors, f"script errors or CSP violations: {errors}"


_AXE_SOURCE: str | None = None
_AXE_RUN = """([tags, extra]) => axe.run(document, Object.assign(
    {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']}, extra))"""


def axe_source() -> str:
    global _AXE_SOURCE
    if _AXE_SOURCE is None:
        import axe_playwright_python

        _AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    return _AXE_SOURCE


def preload_axe(page) -> None:
    """Have axe in every document of the page's context from the start (a test calling
    axe on many screens saves re-injecting it each time)."""
    page.context.add_init_script(script=axe_source())


def axe_violations(page) -> list[dict]:
    """Run axe-core in the page with the WCAG 2.0/2.1/2.2 A and AA tags."""
    # Injected through the DevTools protocol: the page's strict CSP still applies to the
    # page's own scripts but does not block the test's injection.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    # Without selectors axe runs about twice as fast; they are computed again only to
    # describe a failure.
    lean = {"selectors": False, "ancestry": False, "xpath": False, "iframes": False}
    result = page.evaluate(_AXE_RUN, [AXE_TAGS, lean])
    if result["violations"]:
        result = page.evaluate(_AXE_RUN, [AXE_TAGS, {}])
    return result["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = [n["target"] for n in v["nodes"][:3]]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


class Shots:
    """Screenshots (both orientations) and, with ``axe=True``, an axe check of the current
    screen (axe takes about a second a run, so the flow tests leave it to test_kiosk_a11y)."""

    def __init__(self, request):
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)  # no stale shots from an earlier run
        self.count = 0

    def __call__(self, page, name: str, *, axe: bool = False, landscape: bool = True) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        stem = f"{self.count:02d}-{name}"
        if axe:
            violations = axe_violations(page)
            assert not violations, f"{stem} at {page.url}:\n{describe(violations)}"
        page.screenshot(path=str(self.folder / f"{stem}-portrait.png"))
        if landscape:
            page.set_viewport_size(LANDSCAPE)
            if axe:
                violations = axe_violations(page)
                assert not violations, f"{stem} landscape at {page.url}:\n{describe(violations)}"
            page.screenshot(path=str(self.folder / f"{stem}-landscape.png"))
            page.set_viewport_size(PORTRAIT)


@pytest.fixture
def shots(request):
    return Shots(request)


@pytest.fixture
def make_account(sessions):
    """Create an account (and a bill) in the live server's database."""

    def _make(**kw):
        bill_amount = kw.pop("bill_cents", None)
        with sessions() as s:
            account = factories.make_account(s, **kw)
            bill = factories.make_bill(s, account, bill_amount)
            s.commit()
            return account.number, bill.scanline

    return _make


@pytest.fixture
def test_card(sessions, live_server):
    """Choose what the simulated card reader does next (approve, card_declined, ...)."""
    from payments.simulated import set_test_card

    def _set(card: str) -> None:
        with sessions() as s:
            set_test_card(s, live_server.reader_id, card)
            s.commit()

    return _set
