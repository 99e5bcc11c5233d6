"""The cash-payment benchmark's raw baseline writes the rows the service writes (bench/payments.py).
Both loops run on SQLite files whatever the test database: that is the comparison the
benchmark's goal is about."""

from __future__ import annotations

import json

from sqlalchemy import select

from bench import payments as bench
from payments import audit
from payments.db import Base, make_engine, make_session_factory

TABLES = [
    "payments",
    "tender_lines",
    "payment_allocations",
    "receipt_sequences",
    "audit_events",
    "audit_head",
    "outbox_messages",
    "accounts",
    "bills",
]
# Ids, keys and instants differ between two runs; everything else must be equal.
VOLATILE = {
    "id",
    "payment_id",
    "entity_id",
    "key",
    "idempotency_key",
    "created_at",
    "updated_at",
    "completed_at",
    "available_at",
    "at",
    "hash",
    "prev_hash",
}


def _rows(url: str) -> dict[str, list]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            assert audit.verify(session).intact
        out = {}
        with engine.connect() as conn:
            for table in TABLES:
                rows = []
                for row in conn.execute(select(Base.metadata.tables[table])).mappings():
                    kept = {k: v for k, v in row.items() if k not in VOLATILE}
                    if "payload" in kept:
                        payload = json.loads(kept["payload"])
                        # The record's id and instants (to the second: the two loops can
                        # straddle a second) differ between the runs like the columns above.
                        for volatile in ("record_id", "created_at", "completed_at"):
                            payload.pop(volatile)
                        kept["payload"] = payload
                    rows.append(sorted(kept.items(), key=lambda item: item[0]))
                out[table] = sorted(rows, key=repr)
        return out
    finally:
        engine.dispose()


def test_raw_baseline_writes_the_same_rows_as_the_service(tmp_path):
    service_url, raw_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'r.db'}"
    service, raw = bench.ServiceLoop(service_url), bench.RawSameRows(raw_url)
    try:
        for i in range(3):
            service.pay(i)
            raw.pay(i)
    finally:
        service.close()
        raw.close()
    ours, theirs = _rows(service_url), _rows(raw_url)
    assert len(ours["payments"]) == 3 and len(ours["audit_events"]) == 3
    assert ours == theirs


def test_run_reports_both_rates_and_the_ratio():
    result = bench.run(20, postgresql=False)
    [case] = result["cases"]
    assert case["database"] == "sqlite"
    assert case["payments_per_second"] > 0 and case["raw_same_rows_per_second"] > 0
    assert case["ratio"] > 0 and case["cpu_ratio"] > 0
