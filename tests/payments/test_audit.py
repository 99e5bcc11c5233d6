"""The hash-chained audit log: append, verify, the append-only triggers, tampering by someone
who can drop the triggers, and concurrent appends (both databases)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from kiosk.cli import audit_group
from payments import audit
from payments.audit import APPEND_ONLY_DDL, AuditEvent, AuditHead


def _append(sessions, n: int, start: int = 1) -> None:
    with sessions() as s:
        for i in range(start, start + n):
            audit.record(
                s,
                "cash.counted",
                actor=f"cashier{i}",
                entity="drawer",
                entity_id=i,
                details={"cents": 1000 * i, "note": "café"},
            )
        s.commit()


def _verify(sessions) -> audit.ChainReport:
    with sessions() as s:
        return audit.verify(s)


def test_append_links_each_entry_to_the_one_before(sessions):
    _append(sessions, 5)
    with sessions() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        head = s.get(AuditHead, 1)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert (head.seq, head.hash) == (5, events[-1].hash)
    assert _verify(sessions) == audit.ChainReport(True, 5)


def test_empty_log_verifies(sessions):
    assert _verify(sessions) == audit.ChainReport(True, 0)


def test_entry_rolls_back_with_its_transaction(sessions):
    _append(sessions, 2)
    with sessions() as s:
        audit.record(s, "void", actor="cashier")
        s.rollback()
    _append(sessions, 1, start=3)
    report = _verify(sessions)
    assert report.intact and report.checked == 3


def test_a_long_lived_session_never_reuses_a_stale_head(sessions):
    """Sessions keep objects after commit (expire_on_commit=False); the head must be re-read."""
    first, second = sessions(), sessions()
    try:
        audit.record(first, "a", actor="x")
        first.commit()
        audit.record(second, "b", actor="y")
        second.commit()
        audit.record(first, "c", actor="x")  # first's cached head still says seq 1
        first.commit()
    finally:
        first.close()
        second.close()
    assert _verify(sessions) == audit.ChainReport(True, 3)


def test_triggers_refuse_update_and_delete(engine, sessions):
    _append(sessions, 3)
    for statement in [
        "UPDATE audit_events SET details = '{}' WHERE seq = 2",
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
    ]:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert _verify(sessions) == audit.ChainReport(True, 3)


# -- tampering by someone with database-owner rights -----------------------------------------


@pytest.fixture
def unguarded(engine):
    """Drop the append-only triggers (as a database owner could), restore them afterwards."""
    dialect = engine.dialect.name
    drop = {
        "sqlite": [
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
        "postgresql": ["DROP TRIGGER audit_events_no_change ON audit_events"],
    }[dialect]
    with engine.begin() as conn:
        for sql in drop:
            conn.execute(text(sql))
    yield engine
    with engine.begin() as conn:
        for sql in APPEND_ONLY_DDL[dialect]:
            conn.execute(text(sql))


def _cli_verify(app):
    return app.test_cli_runner().invoke(audit_group, ["verify"])


def _rehash(conn, seq: int) -> None:
    """Recompute an entry's hash after editing it, as a careful forger would."""
    row = conn.execute(select(AuditEvent.__table__).where(AuditEvent.seq == seq)).one()
    conn.execute(
        text("UPDATE audit_events SET hash = :h WHERE seq = :s"),
        {"h": audit.entry_hash(row._mapping), "s": seq},
    )


def test_cli_verify_passes_an_intact_chain(app, sessions):
    _append(sessions, 6)
    result = _cli_verify(app)
    assert result.exit_code == 0
    assert "audit chain intact: 6 entries" in result.output


def test_edited_details_are_detected(app, sessions, unguarded):
    _append(sessions, 6)
    with unguarded.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET details = :d WHERE seq = 3"), {"d": '{"cents": 1}'}
        )
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 3" in result.output and "altered" in result.output
    assert _verify(sessions).checked == 2


def test_deleted_middle_entry_is_detected(app, sessions, unguarded):
    _append(sessions, 6)
    with unguarded.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 3" in result.output and "missing" in result.output


def test_deleted_newest_entries_are_detected(app, sessions, unguarded):
    _append(sessions, 6)
    with unguarded.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 5"))
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 5" in result.output and "removed" in result.output


def test_edited_and_rehashed_entry_is_detected(app, sessions, unguarded):
    _append(sessions, 6)
    with unguarded.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE seq = 3"))
        _rehash(conn, 3)
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 3" in result.output and "re-hashed" in result.output


def test_edited_and_rehashed_newest_entry_is_detected(app, sessions, unguarded):
    _append(sessions, 6)
    with unguarded.begin() as conn:
        conn.execute(text("UPDATE audit_events SET details = '{}' WHERE seq = 6"))
        _rehash(conn, 6)
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 6" in result.output


def test_edited_first_entry_is_detected(app, sessions, unguarded):
    _append(sessions, 3)
    with unguarded.begin() as conn:
        conn.execute(text("UPDATE audit_events SET prev_hash = :p WHERE seq = 1"), {"p": "f" * 64})
        _rehash(conn, 1)
    result = _cli_verify(app)
    assert result.exit_code == 1
    assert "BROKEN at entry 1" in result.output


# -- concurrency --------------------------------------------------------------------------------


def test_parallel_appends_keep_one_unbroken_chain(sessions):
    """SQLite queues writers with BEGIN IMMEDIATE; PostgreSQL with the advisory lock."""
    threads, per_thread = 6, 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with sessions() as s:
                    audit.record(s, "payment.tendered", actor=f"counter{n}", details={"i": i})
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == threads * per_thread
    assert _verify(sessions) == audit.ChainReport(True, threads * per_thread)
