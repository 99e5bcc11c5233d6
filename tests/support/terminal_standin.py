"""A Stripe Terminal reader stand-in, in front of localstripe.

localstripe has no Terminal endpoints, so this one HTTP front on 127.0.0.1 serves Stripe's
reader endpoints itself and proxies everything else to localstripe; the gateway needs ONE api
base, exactly as with real Stripe:

  GET  /v1/terminal/readers/{id}
  POST /v1/terminal/readers/{id}/process_payment_intent
  POST /v1/terminal/readers/{id}/cancel_action
  POST /v1/test_helpers/terminal/readers/{id}/present_payment_method

Presenting a card confirms the intent against localstripe with a test card (4242... approves,
4000000000000341 / ``pm_card_chargeCustomerFail`` declines) and sends Stripe-signed webhooks
(``terminal.reader.action_succeeded|failed``, ``payment_intent.succeeded|payment_failed``) to
``webhook_url``. It also fills in what localstripe leaves out of a charge
(``payment_method_details.card_present`` with brand, last four, authorization code) and the
``created`` filter on the intent list. ``fail_next`` injects faults for the tests: an error
before the call reaches localstripe, or a response lost after it was processed.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import stripe
from aiohttp import web

from tests.support.localstripe_server import LocalStripe, LoopThread

APPROVE_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000341"
TEST_PAYMENT_METHODS = {"pm_card_visa": APPROVE_CARD, "pm_card_chargeCustomerFail": DECLINE_CARD}
_KEY = "sk_test_terminal_standin"


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # "error": refuse before localstripe sees it; "lose_response": process, then fail


@dataclass
class Reader:
    id: str
    status: str = "online"
    action: dict[str, Any] | None = None

    def export(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "terminal.reader",
            "action": self.action,
            "device_type": "simulated_wisepos_e",
            "label": self.id,
            "livemode": False,
            "metadata": {},
            "status": self.status,
        }


@dataclass
class Delivery:
    event_type: str
    status: int | None  # None: the receiver could not be reached


def _stripe_error(status: int, code: str, message: str, kind: str = "invalid_request_error"):
    return web.json_response(
        {"error": {"code": code, "message": message, "type": kind}}, status=status
    )


def _form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding, flattened to one level: ``card_present[number]`` stays a key."""
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


@dataclass
class TerminalStandIn:
    localstripe: LocalStripe
    loop: LoopThread
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_urls: dict[str, str] = field(default_factory=dict)  # per reader, over webhook_url
    readers: dict[str, Reader] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    url: str = ""
    _cards: dict[str, dict[str, str]] = field(default_factory=dict)  # payment method -> card

    def __post_init__(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/terminal/readers/{id}", self._get_reader)
        app.router.add_post(
            "/v1/terminal/readers/{id}/process_payment_intent", self._process_payment_intent
        )
        app.router.add_post("/v1/terminal/readers/{id}/cancel_action", self._cancel_action)
        app.router.add_post(
            "/v1/test_helpers/terminal/readers/{id}/present_payment_method", self._present
        )
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        self.url = self.loop.add_app(app)

    # -- test controls ------------------------------------------------------------------

    def reset(self) -> None:
        self.localstripe.reset()
        self.readers.clear()
        self.faults.clear()
        self.deliveries.clear()
        self.requests.clear()
        self._cards.clear()
        self.webhook_url = None
        self.webhook_urls.clear()

    def reader(self, reader_id: str) -> Reader:
        return self.readers.setdefault(reader_id, Reader(reader_id))

    def fail_next(self, method: str, path_pattern: str, kind: str = "error") -> None:
        self.faults.append(Fault(method.upper(), re.compile(path_pattern), kind))

    def present(self, reader_id: str, card: str = APPROVE_CARD, wait_webhooks: bool = True):
        """The customer taps ``card`` on the reader (blocks until webhooks were sent)."""
        return self.loop.call(self._do_present(reader_id, card, wait_webhooks))

    def intents(self) -> list[dict[str, Any]]:
        """Every PaymentIntent localstripe holds (latest charge expanded)."""
        return self.loop.call(self._list_intents())

    # -- reader endpoints -----------------------------------------------------------------

    async def _get_reader(self, request: web.Request) -> web.Response:
        self._record(request, None)
        return web.json_response(self.reader(request.match_info["id"]).export())

    async def _process_payment_intent(self, request: web.Request) -> web.Response:
        body = _form(await request.read())
        self._record(request, request.headers.get("Idempotency-Key"))
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "error":
            return _stripe_error(500, "api_error", "Injected failure.", "api_error")
        reader = self.reader(request.match_info["id"])
        if reader.status != "online":
            return _stripe_error(400, "terminal_reader_offline", "Reader is offline.")
        if reader.action is not None and reader.action["status"] == "in_progress":
            return _stripe_error(400, "terminal_reader_busy", "Reader is busy.")
        intent_id = body.get("payment_intent", "")
        status, intent = await self._stripe("GET", f"/v1/payment_intents/{intent_id}")
        if status == 404:
            return _stripe_error(404, "resource_missing", f"No such payment_intent: {intent_id}")
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            return _stripe_error(
                400, "payment_intent_unexpected_state", f"Intent is {intent['status']}."
            )
        reader.action = {
            "type": "process_payment_intent",
            "status": "in_progress",
            "failure_code": None,
            "failure_message": None,
            "process_payment_intent": {"payment_intent": intent_id},
        }
        if fault is not None:  # lose_response: the reader got it, the caller never hears
            return _stripe_error(500, "api_error", "Injected lost response.", "api_error")
        return web.json_response(reader.export())

    async def _cancel_action(self, request: web.Request) -> web.Response:
        self._record(request, request.headers.get("Idempotency-Key"))
        reader = self.reader(request.match_info["id"])
        if reader.action is None or reader.action["status"] != "in_progress":
            return _stripe_error(
                400, "terminal_reader_busy", "The reader has no action in progress."
            )
        reader.action = None
        return web.json_response(reader.export())

    async def _present(self, request: web.Request) -> web.Response:
        body = _form(await request.read())
        self._record(request, None)
        card = body.get("card_present[number]") or TEST_PAYMENT_METHODS.get(
            body.get("payment_method", ""), APPROVE_CARD
        )
        reader = await self._do_present(request.match_info["id"], card, wait_webhooks=False)
        if reader is None:
            return _stripe_error(400, "terminal_reader_busy", "The reader has no action.")
        return web.json_response(reader)

    async def _do_present(self, reader_id: str, card: str, wait_webhooks: bool):
        reader = self.reader(reader_id)
        action = reader.action
        if action is None or action["status"] != "in_progress":
            return None
        intent_id = action["process_payment_intent"]["payment_intent"]
        _, pm = await self._stripe(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": card,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        )
        self._cards[pm["id"]] = {
            "brand": "visa",
            "last4": card[-4:],
            "auth": f"{secrets.randbelow(10**6):06d}",
        }
        await self._stripe("POST", f"/v1/payment_intents/{intent_id}", {"payment_method": pm["id"]})
        status, confirmed = await self._stripe("POST", f"/v1/payment_intents/{intent_id}/confirm")
        if status == 200:
            action.update(status="succeeded")
        else:
            error = confirmed.get("error", {})
            action.update(
                status="failed",
                failure_code=error.get("decline_code") or error.get("code") or "card_declined",
                failure_message=error.get("message") or "Your card was declined.",
            )
        _, intent = await self._stripe("GET", f"/v1/payment_intents/{intent_id}")
        intent = self._enrich(intent)
        intent["latest_charge"] = (intent.get("latest_charge") or {}).get("id")  # as Stripe sends
        ok = action["status"] == "succeeded"
        events = [
            (
                "terminal.reader.action_succeeded" if ok else "terminal.reader.action_failed",
                reader.export(),
            ),
            ("payment_intent.succeeded" if ok else "payment_intent.payment_failed", intent),
        ]
        url = self.webhook_urls.get(reader_id, self.webhook_url)
        sending = asyncio.ensure_future(self._send_webhooks(url, events))
        if wait_webhooks:
            await sending
        return reader.export()

    # -- webhooks ---------------------------------------------------------------------------

    async def _send_webhooks(self, url: str | None, events: list[tuple[str, Any]]) -> None:
        if not url or not self.webhook_secret:
            return
        async with aiohttp.ClientSession() as session:
            for event_type, obj in events:
                payload = json.dumps(
                    {
                        "id": "evt_" + secrets.token_hex(8),
                        "object": "event",
                        "api_version": "2025-01-27.acacia",
                        "created": int(time.time()),
                        "livemode": False,
                        "type": event_type,
                        "data": {"object": obj},
                    }
                )
                header = stripe.WebhookSignature.generate_signature_header(
                    payload, self.webhook_secret
                )
                try:
                    async with session.post(
                        url,
                        data=payload,
                        headers={"Content-Type": "application/json", "Stripe-Signature": header},
                        timeout=aiohttp.ClientTimeout(total=30),
                    ) as r:
                        await r.read()
                        self.deliveries.append(Delivery(event_type, r.status))
                except (TimeoutError, aiohttp.ClientError):
                    self.deliveries.append(Delivery(event_type, None))

    # -- the proxy to localstripe -----------------------------------------------------------

    async def _proxy(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, request.headers.get("Idempotency-Key"))
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "error":
            return _stripe_error(500, "api_error", "Injected failure.", "api_error")
        query = list(request.query.items())
        created_gte = None
        if request.method == "GET" and request.path == "/v1/payment_intents":
            # localstripe rejects the created filter Stripe supports: apply it here.
            created_gte = next((int(v) for k, v in query if k == "created[gte]"), None)
            query = [(k, v) for k, v in query if not k.startswith("created[")]
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                self.localstripe.url + request.path,
                params=query,
                data=body,
                headers=headers,
            ) as r,
        ):
            status, raw = r.status, await r.read()
        if fault is not None:  # lose_response: localstripe did it, the caller never hears
            return _stripe_error(500, "api_error", "Injected lost response.", "api_error")
        try:
            data = json.loads(raw)
        except ValueError:
            return web.Response(body=raw, status=status)
        if created_gte is not None and isinstance(data.get("data"), list):
            data["data"] = [o for o in data["data"] if o.get("created", 0) >= created_gte]
        return web.json_response(self._enrich(data), status=status)

    async def _stripe(self, method: str, path: str, form: dict[str, str] | None = None):
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.localstripe.url + path,
                data=form or {},
                headers={"Authorization": f"Bearer {_KEY}"},
            ) as r,
        ):
            return r.status, await r.json()

    async def _list_intents(self) -> list[dict[str, Any]]:
        out, after = [], None
        while True:
            q = "?limit=100" + (f"&starting_after={after}" if after else "")
            _, page = await self._stripe("GET", "/v1/payment_intents" + q)
            out.extend(self._enrich(i) for i in page["data"])
            if not page.get("has_more"):
                return out
            after = page["data"][-1]["id"]

    def _enrich(self, obj: Any) -> Any:
        """Add the card-present details localstripe does not produce to every charge."""
        if isinstance(obj, list):
            return [self._enrich(o) for o in obj]
        if not isinstance(obj, dict):
            return obj
        for key, value in obj.items():
            if isinstance(value, dict | list):
                obj[key] = self._enrich(value)
        card = self._cards.get(obj.get("payment_method") or "")
        if obj.get("object") == "charge" and card and "payment_method_details" not in obj:
            obj["authorization_code"] = card["auth"]
            obj["payment_method_details"] = {
                "type": "card_present",
                "card_present": {
                    "brand": card["brand"],
                    "last4": card["last4"],
                    "read_method": "contactless_emv",
                    "receipt": {"authorization_code": card["auth"]},
                },
            }
        return obj

    def _record(self, request: web.Request, key: str | None) -> None:
        self.requests.append((request.method, request.path, key))

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.method == request.method and fault.path.search(request.path):
                self.faults.remove(fault)
                return fault
        return None


def start(loop: LoopThread | None = None) -> TerminalStandIn:
    """localstripe plus the stand-in on one event-loop thread."""
    loop = loop or LoopThread()
    return TerminalStandIn(LocalStripe(loop), loop)
