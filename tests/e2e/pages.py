"""Opening watched browser pages and signing staff in, shared by the end-to-end tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests import factories

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# The staff screens' sizes: a counter laptop and a desk monitor.
VIEWS = {"1366": {"width": 1366, "height": 768}, "1920": {"width": 1920, "height": 1080}}


def fresh_folder(name: str) -> Path:
    """``test-artifacts/<name>``, emptied of an earlier run's screenshots."""
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def staff_username(sessions, office, role: str, **kw) -> str:
    """A new staff user of the office with that role (committed); their username."""
    with sessions() as s:
        user = factories.make_staff(s, role, office_id=office.id, **kw)
        s.commit()
        return user.username


def open_page(context, *, every_console_error: bool = False):
    """A new page (10 s default timeout) and the list collecting its script errors and CSP
    violations; with ``every_console_error``, any console error counts."""
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def _console(msg) -> None:
        if msg.type == "error" and (every_console_error or "Content Security Policy" in msg.text):
            errors.append(msg.text)

    page.on("console", _console)
    return page, errors


def sign_in(page, username: str, password: str = factories.PASSWORD) -> None:
    """Sign a staff user in through the login form and wait to leave it."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
