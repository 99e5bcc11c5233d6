"""PDF text as a reader sees it on paper: ``pdftotext -layout`` (poppler-utils)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def pdf_text(pdf: bytes, folder: Path) -> str:
    """The text of every page, laid out as printed; pages are separated by a form feed."""
    path = folder / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def pdf_pages(pdf: bytes, folder: Path) -> list[str]:
    """The text of each page that has any."""
    return [page for page in pdf_text(pdf, folder).split("\f") if page.strip()]
