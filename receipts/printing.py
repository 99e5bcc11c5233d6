"""The print queue: one outbox job per receipt copy, delivered with retries.

A job is done only after the printer took it. Before sending, the printer's status is read
(on the same connection for network printers): paper out, cover open, offline or silence
raise ``PrinterUnavailable`` and the job waits for the next attempt. Nothing is sent to a
faulted printer, because a printer holds such data and prints it once the fault clears, and
the retry would then print it a second time. A journal of printed job keys (one small file
per key) makes a retry after a crash between "printed" and "marked delivered" a no-op.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.devices import (
    DeviceURLError,
    PrinterError,
    PrinterStatus,
    parse_printer_url,
    send_job,
)
from receipts.document import Document, document_from_dict
from receipts.escpos import render_escpos
from receipts.preview import render_png
from receipts.text import render_text

PRINT_TOPIC = "print"
EMAIL_TOPIC = "email"
PREVIEW_URL = "preview://"


class PrinterUnavailable(Exception):
    """The printer cannot take the job now; deliver it again later."""

    def __init__(self, message: str, status: PrinterStatus = PrinterStatus.UNKNOWN):
        super().__init__(message)
        self.status = status


def job_key(receipt_number: str, copy: int = 1, reprint: int = 0) -> str:
    """The outbox key of one printed copy: unique per receipt, copy and reprint."""
    base = f"{receipt_number}:copy{copy}"
    return f"{receipt_number}:reprint{reprint}:copy{copy}" if reprint else base


def print_payload(
    doc: Document,
    printer_url: str | None,
    *,
    copy: int = 1,
    kick_drawer: bool = False,
    expires_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """What a print job carries: the whole document, so it renders without the database."""
    return {
        "document": doc.to_dict(),
        "printer_url": printer_url or PREVIEW_URL,
        "copy": copy,
        "kick_drawer": kick_drawer,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


class PrintJournal:
    """Keys of jobs a printer has accepted, one empty file per key."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / (re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".printed")

    def seen(self, key: str) -> bool:
        return self._path(key).exists()

    def prune(self, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
        """Forget keys printed long ago (the outbox has marked them delivered by then)."""
        if not self.directory.exists():
            return 0
        cutoff = dt.datetime.now(dt.UTC).timestamp() - older_than.total_seconds()
        old = [p for p in self.directory.glob("*.printed") if p.stat().st_mtime < cutoff]
        for path in old:
            path.unlink(missing_ok=True)
        return len(old)

    def mark(self, key: str, note: str = "") -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._path(key).with_suffix(".tmp")
        tmp.write_text(note)
        os.replace(tmp, self._path(key))


@dataclass
class PrintResult:
    status: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def deliver_print_job(
    key: str,
    payload: dict[str, Any],
    *,
    preview_dir: Path | str,
    journal: PrintJournal | None = None,
    now: dt.datetime | None = None,
) -> PrintResult:
    """Print one job or raise ``PrinterUnavailable``. Returns what happened, for the outbox."""
    if journal is not None and journal.seen(key):
        return PrintResult("printed", "already printed (journal)")
    expires = payload.get("expires_at")
    now = now or dt.datetime.now(dt.UTC)
    if expires and now > dt.datetime.fromisoformat(expires):
        # A kiosk receipt nobody is waiting for would lie in an unattended tray.
        return PrintResult("expired", f"not printed after {expires}")
    doc = document_from_dict(payload["document"])
    try:
        address = parse_printer_url(payload.get("printer_url") or PREVIEW_URL)
    except DeviceURLError as exc:
        raise PrinterUnavailable(f"bad printer URL: {exc}") from exc
    if address.is_preview:
        path = save_preview(doc, Path(preview_dir), key)
        result = PrintResult("previewed", str(path))
    else:
        data = render_escpos(
            doc,
            address.profile,
            kick_drawer=bool(payload.get("kick_drawer")),
            drawer_pin=address.drawer_pin,
        )
        try:
            status = send_job(address, data)
        except PrinterError as exc:
            raise PrinterUnavailable(str(exc), exc.status) from exc
        result = PrintResult("printed", f"{address.url} ({status.value}, {len(data)} bytes)")
    if journal is not None:
        journal.mark(key, str(result))
    return result


def save_preview(doc: Document, directory: Path, key: str) -> Path:
    """The demo's printer: the receipt saved as PNG and text under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", key)
    (directory / f"{stem}.txt").write_text(render_text(doc), encoding="utf-8")
    path = directory / f"{stem}.png"
    path.write_bytes(render_png(doc))
    return path
