"""The lobby's "now serving" screen: public (no sign-in), numbers and counter names only (no
personal data), every label in English, Spanish and Vietnamese at once. The page refreshes
itself from ``/lobby/now-serving.json`` (static script; the CSP forbids inline code).

The office is ``?office=SA``; without it, the caller's office (a paired kiosk or signed-in
staff), else the first office."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select

from kiosk import db
from kiosk import queue as queue_service
from kiosk.access import access
from kiosk.api.common import caller_office_id
from kiosk.i18n import LANGUAGES
from kiosk.models import Office
from kiosk.security import api_error
from payments.db import utcnow
from payments.posting import iso_utc

bp = Blueprint("lobby", __name__)

TRANSLATIONS_DIR = Path(__file__).parents[1] / "translations"
SERVING_SHOWN = 6
NEXT_SHOWN = 8


@cache
def _catalog(lang: str) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [lang])


def in_every_language(msgid: str) -> list[tuple[str, str]]:
    """``msgid`` in each office language, English first: [("en", ...), ("es", ...), ...]."""
    return [(lang, _catalog(lang).gettext(msgid)) for lang in LANGUAGES]


@bp.context_processor
def _helpers():
    # N_ marks a message for extraction (babel.cfg); in_every_language renders it three times.
    return {"N_": lambda msgid: msgid, "in_every_language": in_every_language}


def _office(session) -> Office | None:
    code = (request.args.get("office") or "").strip().upper()
    if code:
        return session.scalars(select(Office).where(Office.code == code[:8])).first()
    office_id = caller_office_id()
    if office_id is not None:
        return session.get(Office, office_id)
    return session.scalars(select(Office).order_by(Office.id)).first()


def _board(session, office: Office) -> dict:
    serving = queue_service.now_serving(session, office.id, limit=SERVING_SHOWN)
    return {
        "office": office.code,
        "serving": [
            {"number": s.number, "counter": s.counter, "announced_at": iso_utc(s.announced_at)}
            for s in serving
        ],
        "next": queue_service.next_numbers(session, office.id, limit=NEXT_SHOWN),
        "updated_at": iso_utc(utcnow()),
    }


@bp.route("/now-serving", methods=["GET"])
@access("public")
def now_serving():
    session = db.session()
    office = _office(session)
    if office is None:
        return render_template("lobby/now_serving.html", office=None, board=None), 404
    return render_template("lobby/now_serving.html", office=office, board=_board(session, office))


@bp.route("/now-serving.json", methods=["GET"])
@access("public")
def now_serving_json():
    session = db.session()
    office = _office(session)
    if office is None:
        return api_error(404, "no_office", "No such office.")
    response = jsonify(_board(session, office))
    response.headers["Cache-Control"] = "no-store"
    return response
