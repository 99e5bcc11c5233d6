"""Opening watched browser pages and signing staff in, shared by the end-to-end tests."""

from __future__ import annotations

from tests import factories


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
