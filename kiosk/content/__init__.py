"""Answers to common questions, one Markdown file per topic per language, editable by staff
without touching code: ``kiosk/content/questions/<topic>.<lang>.md``. The topics, their order
and the reason code each records are listed in ``questions/topics.yaml``.

Only a small, safe part of Markdown is understood: ``# Title`` (first line), ``## Heading``,
paragraphs, ``- list items`` and ``**bold**``; everything else is shown as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from markupsafe import Markup, escape

QUESTIONS = Path(__file__).parent / "questions"
LANGUAGES = ("en", "es", "vi")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_TOPIC = re.compile(r"^[a-z0-9-]{1,40}$")


@dataclass(frozen=True)
class Answer:
    topic: str
    title: str
    body: Markup
    reason_code: str


@cache
def _index() -> list[dict]:
    data = yaml.safe_load((QUESTIONS / "topics.yaml").read_text(encoding="utf-8"))
    return list(data["topics"])


def _inline(text: str) -> Markup:
    out = Markup()
    pos = 0
    for m in _BOLD.finditer(text):
        out += escape(text[pos : m.start()]) + Markup("<strong>%s</strong>") % m.group(1)
        pos = m.end()
    return out + escape(text[pos:])


def render(markdown: str) -> tuple[str, Markup]:
    """(title, body HTML) from the small Markdown subset."""
    lines = markdown.replace("\r\n", "\n").strip().split("\n")
    title = lines[0].lstrip("#").strip() if lines and lines[0].startswith("# ") else ""
    if title:
        lines = lines[1:]
    html: list[Markup] = []
    para: list[str] = []
    items: list[str] = []

    def flush():
        if para:
            html.append(Markup("<p>%s</p>") % _inline(" ".join(para)))
            para.clear()
        if items:
            lis = Markup("").join(Markup("<li>%s</li>") % _inline(i) for i in items)
            html.append(Markup("<ul>%s</ul>") % lis)
            items.clear()

    for raw in lines:
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            html.append(Markup("<h2>%s</h2>") % _inline(line[3:].strip()))
        elif line.startswith("- "):
            if para:
                flush()
            items.append(line[2:].strip())
        else:
            if items:
                flush()
            para.append(line)
    flush()
    return title, Markup("\n").join(html)


def _read(topic: str, language: str) -> str | None:
    path = QUESTIONS / f"{topic}.{language}.md"
    if not path.exists():
        path = QUESTIONS / f"{topic}.en.md"
    return path.read_text(encoding="utf-8") if path.exists() else None


def answer(topic: str, language: str) -> Answer | None:
    if not _TOPIC.match(topic or ""):
        return None
    entry = next((t for t in _index() if t["topic"] == topic), None)
    if entry is None:
        return None
    text = _read(topic, language if language in LANGUAGES else "en")
    if text is None:
        return None
    title, body = render(text)
    return Answer(topic, title, body, entry["reason"])


def topics(language: str) -> list[Answer]:
    found = (answer(t["topic"], language) for t in _index())
    return [a for a in found if a is not None]
