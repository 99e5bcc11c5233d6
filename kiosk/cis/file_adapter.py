"""The file CIS adapter: each outbox message becomes one posting file in
``CIS_EXCHANGE_DIR/outbound/``. Accounts come in by CSV (``kiosk.cis.importer``).

A file is named from its record type and id (``payment_<id>.json``), written under a temporary
name and renamed into place, so the CIS never sees half a file and a redelivery after a crash
overwrites the same file instead of adding a second one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from kiosk.cis.base import record_type, safe_record_id
from payments.outbox import DeliveryError, OutboxMessage


class FileAdapter:
    name = "file"

    def __init__(self, exchange_dir: str | os.PathLike):
        self.exchange_dir = Path(exchange_dir)
        self.outbound = self.exchange_dir / "outbound"

    def file_name(self, message: OutboxMessage) -> str:
        return f"{record_type(message.topic)}_{safe_record_id(message.key)}.json"

    def deliver(self, message: OutboxMessage) -> str | None:
        name = self.file_name(message)
        record = json.loads(message.payload)
        body = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            self.outbound.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=self.outbound)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(body)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.outbound / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(self.outbound)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.outbound / name}: {exc}") from exc
        return f"file:{name}"


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
