"""The http CIS adapter against a real HTTP server on 127.0.0.1 (tests/kiosk/cis/conftest.py),
including the CIS outage: nothing is lost, nothing is recorded twice."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from kiosk.cis.base import TOPICS, CisRefused, adapter_from_config
from kiosk.cis.http_adapter import HttpAdapter
from kiosk.cis.records import visit_record
from kiosk.worker import build_handlers
from payments import outbox
from payments.db import utcnow
from payments.outbox import DeliveryError, OutboxMessage
from payments.posting import CIS_PAYMENT_TOPIC, CIS_VISIT_TOPIC, payment_record
from tests.kiosk.cis.conftest import TOKEN, make_records


def _config(fake_cis, **kw):
    return {
        "CIS_ADAPTER": "http",
        "CIS_ENDPOINT": fake_cis.url,
        "CIS_TOKEN": TOKEN,
        "CIS_TIMEOUT_SECONDS": 5,
        "CIS_RETRIES": 2,
        "CIS_RETRY_BACKOFF_SECONDS": 0.01,
        **kw,
    }


def _enqueue_payment_and_visit(sessions):
    with sessions.begin() as s:
        r = make_records(s)
        outbox.enqueue(s, CIS_PAYMENT_TOPIC, r.payment.id, payment_record(r.payment, "SA"))
        outbox.enqueue(s, CIS_VISIT_TOPIC, r.visit.id, visit_record(r.visit, "SA"))
        return r.payment.id, r.visit.id


def _messages(sessions):
    with sessions() as s:
        return s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _message(payload: str, topic=CIS_PAYMENT_TOPIC, key="abc123") -> OutboxMessage:
    return OutboxMessage(id=1, topic=topic, key=key, payload=payload, attempts=1)


def test_adapter_from_config_picks_http(fake_cis):
    adapter = adapter_from_config(_config(fake_cis))
    assert isinstance(adapter, HttpAdapter) and adapter.name == "http"
    with pytest.raises(ValueError):
        adapter_from_config({"CIS_ADAPTER": "http"})
    with pytest.raises(ValueError):
        adapter_from_config({"CIS_ADAPTER": "ftp"})


def test_put_is_idempotent_by_record_id(fake_cis):
    adapter = adapter_from_config(_config(fake_cis))
    msg = _message('{"record_id": "abc123", "amount_cents": 100}')
    assert adapter.deliver(msg) == "CIS-payments-abc123"
    assert adapter.deliver(msg) == "CIS-payments-abc123"
    assert fake_cis.records[("payments", "abc123")]["amount_cents"] == 100
    assert len(fake_cis.records) == 1


def test_conflict_409_counts_as_already_recorded(fake_cis):
    adapter = adapter_from_config(_config(fake_cis))
    adapter.deliver(_message('{"record_id": "abc123", "amount_cents": 100}'))
    ack = adapter.deliver(_message('{"record_id": "abc123", "amount_cents": 999}'))
    assert "409" in ack
    assert fake_cis.records[("payments", "abc123")]["amount_cents"] == 100


def test_5xx_is_retried_inside_one_delivery_then_delivery_error(fake_cis):
    adapter = adapter_from_config(_config(fake_cis, CIS_RETRIES=2))
    fake_cis.mode = "5xx"
    with pytest.raises(DeliveryError, match="HTTP 503"):
        adapter.deliver(_message('{"record_id": "abc123"}'))
    assert fake_cis.requests == 3  # first try + 2 retries
    assert not fake_cis.records


def test_429_is_transient(fake_cis):
    adapter = adapter_from_config(_config(fake_cis, CIS_RETRIES=1))
    fake_cis.mode = "429"
    with pytest.raises(DeliveryError, match="HTTP 429") as info:
        adapter.deliver(_message('{"record_id": "abc123"}'))
    assert not isinstance(info.value, CisRefused)
    assert fake_cis.requests == 2


def test_connection_refused_is_a_delivery_error(fake_cis):
    adapter = adapter_from_config(_config(fake_cis, CIS_RETRIES=1))
    fake_cis.stop()
    with pytest.raises(DeliveryError, match="unreachable"):
        adapter.deliver(_message('{"record_id": "abc123"}'))


def test_other_4xx_is_a_refusal_kept_pending(fake_cis, sessions):
    """A wrong token (401) is not transient: it surfaces as REFUSED in last_error, and the
    message stays pending (it is never dropped)."""
    handlers = build_handlers(_config(fake_cis, CIS_TOKEN="wrong"))
    payment_id, _ = _enqueue_payment_and_visit(sessions)
    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS))
    assert run.failed == 2 and run.delivered == 0
    for msg in _messages(sessions):
        assert msg.status == outbox.PENDING
        assert msg.last_error.startswith("CisRefused: REFUSED by CIS: HTTP 401")
    assert fake_cis.requests == 2  # a refusal is not retried within the delivery
    assert not fake_cis.records


def test_record_ids_that_are_not_url_safe_are_refused(fake_cis):
    adapter = adapter_from_config(_config(fake_cis))
    with pytest.raises(CisRefused):
        adapter.deliver(_message("{}", key="../accounts/1"))
    assert fake_cis.requests == 0


def test_cis_outage_loses_nothing_and_records_each_once(fake_cis, sessions):
    handlers = build_handlers(_config(fake_cis, CIS_RETRIES=1))
    payment_id, visit_id = _enqueue_payment_and_visit(sessions)

    fake_cis.stop()  # the CIS goes down
    before = utcnow()
    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS))
    assert (run.delivered, run.failed) == (0, 2)
    for msg in _messages(sessions):
        assert msg.status == outbox.PENDING
        assert msg.attempts == 1
        assert "unreachable" in msg.last_error
        assert msg.available_at > before  # backed off
        assert msg.leased_by is None
    # still backing off: a second pass right away delivers nothing and tries nothing
    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS))
    assert (run.delivered, run.failed) == (0, 0)

    fake_cis.start()  # back, on the same port
    later = utcnow() + dt.timedelta(hours=1)
    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS), now=later)
    assert (run.delivered, run.failed) == (2, 0)
    assert fake_cis.puts == {("payments", payment_id): 1, ("visits", visit_id): 1}
    assert fake_cis.records[("payments", payment_id)]["amount_cents"] == 8450
    assert fake_cis.records[("visits", visit_id)]["reason_codes"] == ["payment", "pickup_day"]
    for msg in _messages(sessions):
        assert msg.status == outbox.DELIVERED
        assert msg.attempts == 2 and msg.last_error is None
        assert msg.acknowledgment.startswith("CIS-")
    # nothing left to send
    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS), now=later)
    assert (run.delivered, run.failed) == (0, 0)


def test_crash_between_delivery_and_mark_does_not_duplicate(fake_cis, sessions):
    handlers = build_handlers(_config(fake_cis))
    payment_id, visit_id = _enqueue_payment_and_visit(sessions)
    assert outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS)).delivered == 2
    # the worker died after the CIS accepted but before it marked the messages delivered
    with sessions.begin() as s:
        s.execute(
            update(OutboxMessage).values(
                status=outbox.PENDING, delivered_at=None, acknowledgment=None
            )
        )
    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS))
    assert run.delivered == 2
    assert set(fake_cis.records) == {("payments", payment_id), ("visits", visit_id)}
    assert len(fake_cis.records) == 2  # each record held once; the repeat PUT was a no-op


def test_fetch_account(fake_cis):
    adapter = adapter_from_config(_config(fake_cis))
    fake_cis.accounts["100200"] = {"account_number": "100200", "balance_cents": 4500}
    assert adapter.fetch_account("100200")["balance_cents"] == 4500
    assert adapter.fetch_account("999") is None
    fake_cis.stop()
    with pytest.raises(DeliveryError):
        adapter.fetch_account("100200")
