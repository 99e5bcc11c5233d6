"""The http CIS adapter: records as JSON to the CIS web service (contract in docs/cis.md).

``PUT {endpoint}/{collection}/{record_id}`` is idempotent by record id, so a redelivery after a
crash finds the record already there. Transient failures (connection errors, timeouts, 5xx,
429) are retried a few times with exponential backoff inside one delivery; after that the
outbox retries later with its own, longer backoff. Any other 4xx except 409 is a refusal: it is
raised as ``CisRefused`` so the message stays pending with a clear ``last_error`` and is never
dropped.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import requests

from kiosk.cis.base import CisRefused, record_type, safe_record_id
from payments.outbox import DeliveryError, OutboxMessage

log = logging.getLogger(__name__)

# Record type -> URL collection.
COLLECTIONS = {
    "payment": "payments",
    "payment_void": "payment-voids",
    "refund": "refunds",
    "visit": "visits",
    "service_request": "service-requests",
}
MAX_RETRY_AFTER_S = 30.0


class HttpAdapter:
    name = "http"

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        session: requests.Session | None = None,
    ):
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = max(retries, 0)
        self.backoff_seconds = backoff_seconds
        self.http = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "payoffice-cis/1"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def url_for(self, message: OutboxMessage) -> str:
        collection = COLLECTIONS[record_type(message.topic)]
        return f"{self.endpoint}/{collection}/{safe_record_id(message.key)}"

    def deliver(self, message: OutboxMessage) -> str | None:
        url = self.url_for(message)
        body = message.payload.encode("utf-8")
        headers = self._headers() | {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{message.topic}:{message.key}",
        }
        response = self._send("PUT", url, data=body, headers=headers)
        if response.status_code == 409:
            return "already recorded (HTTP 409)"
        return _acknowledgment(response)

    def fetch_account(self, number: str) -> dict[str, Any] | None:
        """The CIS's current view of one account (same fields as the import CSV), or None
        when the CIS does not know it."""
        url = f"{self.endpoint}/accounts/{safe_record_id(number)}"
        response = self._send("GET", url, headers=self._headers(), allow=(404,))
        if response.status_code == 404:
            return None
        try:
            data = response.json()
        except ValueError as exc:
            raise DeliveryError(f"CIS sent a non-JSON account for {number}") from exc
        if not isinstance(data, dict):
            raise DeliveryError(f"CIS sent an account for {number} that is not an object")
        return data

    def _send(
        self, method: str, url: str, *, allow: tuple[int, ...] = (), **kw: Any
    ) -> requests.Response:
        """One request with retries for transient failures; raises DeliveryError/CisRefused."""
        problem, retry_after = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self._pause(attempt, retry_after))
            retry_after = None
            try:
                response = self.http.request(method, url, timeout=self.timeout, **kw)
            except requests.RequestException as exc:
                problem = f"CIS unreachable: {type(exc).__name__}: {exc}"
                continue
            status = response.status_code
            if status < 300 or status == 409 or status in allow:
                return response
            if status == 429 or status >= 500:
                problem = f"CIS busy or failing: HTTP {status} {_excerpt(response)}"
                retry_after = response.headers.get("Retry-After")
                continue
            raise CisRefused(
                f"REFUSED by CIS: HTTP {status} on {method} {url}: {_excerpt(response)} "
                "(kept pending; fix the record or the CIS and it is retried)"
            )
        raise DeliveryError(f"{problem} (after {self.retries + 1} tries)")

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        pause = self.backoff_seconds * 2 ** (attempt - 1)
        if retry_after and retry_after.strip().isdigit():
            pause = max(pause, min(float(retry_after), MAX_RETRY_AFTER_S))
        return pause


def _excerpt(response: requests.Response) -> str:
    return (response.text or "").strip().replace("\n", " ")[:300]


def _acknowledgment(response: requests.Response) -> str:
    """The CIS's confirmation number if it sent one, else the HTTP status."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("confirmation", "ack", "id"):
            if data.get(key) not in (None, ""):
                return str(data[key])[:255]
        return json.dumps(data, sort_keys=True)[:255]
    return f"HTTP {response.status_code}"
