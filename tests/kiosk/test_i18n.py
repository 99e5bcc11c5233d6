"""The customer kiosk's catalogs are complete: every message used on a customer screen has a
real Spanish and Vietnamese translation, and the committed .mo files match the .po files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from kiosk.config import REPO_ROOT

TRANSLATIONS = REPO_ROOT / "kiosk" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# Customer-facing sources: the kiosk and the lobby's now-serving screen (all three languages).
CUSTOMER_FACING = ("templates/customer/", "kiosk/views/customer.py", "templates/lobby/")


def _customer_msgids() -> set[str | tuple[str, ...]]:
    with (REPO_ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = set()
    for filename, _lineno, message, _comments, _ctx in extract_from_dir(
        str(REPO_ROOT), method_map, options_map
    ):
        assert filename.startswith(CUSTOMER_FACING), filename
        found.add(message)
    return found


def _catalog(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_extraction_covers_customer_templates():
    ids = _customer_msgids()
    assert "How can we help?" in ids
    assert len(ids) > 100


@pytest.mark.parametrize("lang", ["es", "vi"])
def test_every_customer_message_is_translated(lang):
    catalog = _catalog(lang)
    problems = []
    for msgid in _customer_msgids():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        if message is None:
            problems.append(f"missing: {key!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(s and s.strip() for s in strings):
            problems.append(f"empty: {key!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        for s in strings:
            if sorted(PLACEHOLDER.findall(key)) != sorted(PLACEHOLDER.findall(s or "")):
                problems.append(f"placeholders differ: {key!r} -> {s!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", ["es", "vi"])
def test_compiled_catalog_matches_po(lang):
    mo = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo"
    assert mo.exists(), "run: pybabel compile -d kiosk/translations"
    translations = Translations.load(str(TRANSLATIONS), [lang])
    for message in _catalog(lang):
        if not message.id or isinstance(message.id, tuple):
            continue
        assert translations.gettext(message.id) == message.string, (
            f"{mo} is stale for {message.id!r}: run pybabel compile -d kiosk/translations"
        )


def test_no_translation_is_a_copy_of_the_english():
    """A translation identical to the English is usually a forgotten one."""
    allowed = {"%(amount)s", "OK"}
    for lang in ("es", "vi"):
        same = [
            m.id
            for m in _catalog(lang)
            if m.id and isinstance(m.id, str) and m.id == m.string and m.id not in allowed
        ]
        assert not same, f"{lang}: {same}"


def test_pages_render_in_each_language(kiosk_client, sessions):
    from tests.conftest import csrf_token

    token = csrf_token(kiosk_client, "/kiosk/")
    expected = {"en": "How can we help?", "es": "¿En qué le podemos ayudar?", "vi": "Chúng tôi"}
    for lang, text in expected.items():
        kiosk_client.post("/kiosk/language", data={"lang": lang, "csrf_token": token})
        html = kiosk_client.get("/kiosk/menu").get_data(as_text=True)
        assert f'<html lang="{lang}">' in html
        assert text in html


def test_translation_files_are_utf8_nfc():
    import unicodedata

    for path in Path(TRANSLATIONS).glob("*/LC_MESSAGES/messages.po"):
        text = path.read_text(encoding="utf-8")
        assert unicodedata.normalize("NFC", text) == text, path
