"""Languages: every customer-facing screen and receipt exists in English, Spanish and
Vietnamese. The kiosk visit's language is kept in the session; staff pages follow the
browser's preference."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel

LANGUAGES = {"en": "English", "es": "Español", "vi": "Tiếng Việt"}
DEFAULT_LANGUAGE = "en"


def normalize(code: str | None) -> str:
    code = (code or "").split("-")[0].split("_")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(list(LANGUAGES)) if request else None
    return best or DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations")
    )
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    Babel(app, locale_selector=current_language)

    @app.context_processor
    def _languages():
        return {"LANGUAGES": LANGUAGES, "current_language": current_language()}
