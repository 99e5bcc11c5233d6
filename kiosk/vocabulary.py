"""One vocabulary of visit reasons and outcomes, shared by the kiosk, the counter and reports.

Codes, their category (billing / service / information) and labels in the three languages
live in ``kiosk/data/vocabulary.csv`` so staff can review them without reading code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

VOCABULARY_FILE = Path(__file__).parent / "data" / "vocabulary.csv"
CATEGORIES = ("billing", "service", "information")
KINDS = ("reason", "outcome")
LANGUAGES = ("en", "es", "vi")


class VocabularyError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Term:
    code: str
    kind: str
    category: str
    labels: dict[str, str]

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels["en"]


def load(path: Path = VOCABULARY_FILE) -> dict[str, Term]:
    """Read and check the vocabulary file; a bad row is an error naming its line."""
    terms: dict[str, Term] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            code = (row.get("code") or "").strip()
            kind = (row.get("kind") or "").strip()
            category = (row.get("category") or "").strip()
            labels = {lang: (row.get(f"label_{lang}") or "").strip() for lang in LANGUAGES}
            if not code or kind not in KINDS or category not in CATEGORIES:
                raise VocabularyError("bad_row", f"{path.name} line {line}: bad code/kind/category")
            if not all(labels.values()):
                raise VocabularyError("missing_label", f"{path.name} line {line}: missing label")
            if code in terms:
                raise VocabularyError("duplicate", f"{path.name} line {line}: duplicate {code}")
            terms[code] = Term(code, kind, category, labels)
    return terms


@cache
def terms() -> dict[str, Term]:
    return load()


def reasons() -> list[Term]:
    return [t for t in terms().values() if t.kind == "reason"]


def outcomes() -> list[Term]:
    return [t for t in terms().values() if t.kind == "outcome"]


def require(code: str, kind: str) -> Term:
    term = terms().get(code)
    if term is None or term.kind != kind:
        raise VocabularyError("unknown_code", f"{code!r} is not a known {kind} code")
    return term


def label(code: str, language: str = "en") -> str:
    term = terms().get(code)
    return term.label(language) if term else code
