"""The receipt as plain text (counter screen, email body fallback, logs)."""

from __future__ import annotations

from receipts.document import Document
from receipts.layout import fit_pair, lay_out, wrap


def render_text(doc: Document, columns: int = 42) -> str:
    rows: list[str] = []
    for line in lay_out(doc):
        if line.kind == "rule":
            rows.append("-" * columns)
        elif line.kind == "blank":
            rows.append("")
        elif line.kind == "pair":
            rows += fit_pair(line.text, line.right, columns)
        else:  # text and the barcode's human-readable number
            for part in wrap(line.text, columns):
                rows.append(part.center(columns).rstrip() if line.align == "center" else part)
    return "\n".join(rows) + "\n"
