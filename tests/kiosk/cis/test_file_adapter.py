"""The file CIS adapter: one posting file per record, rewritten (never duplicated) on a
redelivery."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from kiosk.cis.base import TOPICS, CisRefused, adapter_from_config
from kiosk.cis.file_adapter import FileAdapter
from kiosk.cis.records import visit_record
from kiosk.worker import build_handlers
from payments import outbox
from payments.outbox import DeliveryError, OutboxMessage
from payments.posting import CIS_PAYMENT_TOPIC, CIS_VISIT_TOPIC, payment_record
from tests.kiosk.cis.conftest import make_records


def test_file_adapter_writes_one_file_per_record_and_redelivery_overwrites(sessions, tmp_path):
    exchange = tmp_path / "cis"
    handlers = build_handlers({"CIS_ADAPTER": "file", "CIS_EXCHANGE_DIR": str(exchange)})
    with sessions.begin() as s:
        r = make_records(s)
        outbox.enqueue(s, CIS_PAYMENT_TOPIC, r.payment.id, payment_record(r.payment, "SA"))
        outbox.enqueue(s, CIS_VISIT_TOPIC, r.visit.id, visit_record(r.visit, "SA"))
        payment_id, visit_id = r.payment.id, r.visit.id

    run = outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS))
    assert run.delivered == 2
    outbound = exchange / "outbound"
    names = sorted(p.name for p in outbound.iterdir())
    assert names == sorted([f"payment_{payment_id}.json", f"visit_{visit_id}.json"])
    record = json.loads((outbound / f"payment_{payment_id}.json").read_text())
    assert record["record_id"] == payment_id and record["amount_cents"] == 8450

    # as if the worker died after writing the files but before marking them delivered
    with sessions.begin() as s:
        s.execute(update(OutboxMessage).values(status=outbox.PENDING, delivered_at=None))
    assert outbox.deliver_due(sessions, handlers, topics=sorted(TOPICS)).delivered == 2
    assert sorted(p.name for p in outbound.iterdir()) == names  # same files, no temp leftovers


def test_unwritable_exchange_dir_is_a_delivery_error(tmp_path):
    blocker = tmp_path / "cis"
    blocker.write_text("a file where the folder should be")
    adapter = adapter_from_config({"CIS_ADAPTER": "file", "CIS_EXCHANGE_DIR": str(blocker)})
    msg = OutboxMessage(id=1, topic=CIS_PAYMENT_TOPIC, key="abc", payload="{}", attempts=1)
    with pytest.raises(DeliveryError, match="cannot write"):
        adapter.deliver(msg)


def test_unsafe_record_id_is_refused(tmp_path):
    adapter = FileAdapter(tmp_path)
    msg = OutboxMessage(id=1, topic=CIS_PAYMENT_TOPIC, key="../../etc/x", payload="{}")
    with pytest.raises(CisRefused):
        adapter.deliver(msg)
    assert not (tmp_path / "outbound").exists()
