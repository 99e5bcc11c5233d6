"""The CIS adapter interface, its topics and the factory that picks an adapter by config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from payments.outbox import DeliveryError, OutboxMessage
from payments.posting import CIS_TOPICS

# Every outbox topic a CIS adapter delivers (payment, void, refund, visit, service request).
TOPICS: frozenset[str] = frozenset(CIS_TOPICS)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class CisRefused(DeliveryError):
    """The CIS answered but refused the record (a 4xx other than 409/429). The message stays
    pending and is retried with the outbox's backoff until someone fixes the cause."""


@runtime_checkable
class CisAdapter(Protocol):
    name: str

    def deliver(self, message: OutboxMessage) -> str | None:
        """Hand one outbox message to the CIS; return its acknowledgment. Raise
        ``DeliveryError`` when the CIS is unavailable. Must be idempotent by record id."""


def record_type(topic: str) -> str:
    try:
        return CIS_TOPICS[topic]
    except KeyError:
        raise CisRefused(f"not a CIS topic: {topic!r}") from None


def safe_record_id(value: Any) -> str:
    """A record id that is safe in a file name and a URL path segment."""
    text = str(value)
    if not _SAFE_ID.match(text):
        raise CisRefused(f"record id {text!r} has characters a CIS record id may not hold")
    return text


def adapter_from_config(config: Mapping[str, Any]) -> CisAdapter:
    """The adapter named by ``CIS_ADAPTER`` ("file" or "http")."""
    kind = config.get("CIS_ADAPTER") or "file"
    if kind == "file":
        from kiosk.cis.file_adapter import FileAdapter

        if not config.get("CIS_EXCHANGE_DIR"):
            raise ValueError("CIS_EXCHANGE_DIR must be set for the file CIS adapter")
        return FileAdapter(config["CIS_EXCHANGE_DIR"])
    if kind == "http":
        from kiosk.cis.http_adapter import HttpAdapter

        if not config.get("CIS_ENDPOINT"):
            raise ValueError("CIS_ENDPOINT must be set for the http CIS adapter")
        return HttpAdapter(
            config["CIS_ENDPOINT"],
            token=config.get("CIS_TOKEN"),
            timeout=float(config.get("CIS_TIMEOUT_SECONDS") or 10),
            retries=int(config.get("CIS_RETRIES", 2)),
            backoff_seconds=float(config.get("CIS_RETRY_BACKOFF_SECONDS", 0.5)),
        )
    raise ValueError(f"unknown CIS adapter {kind!r} (expected 'file' or 'http')")
