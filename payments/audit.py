"""The append-only, hash-chained audit log.

Each entry stores the hash of the one before it, so an edited entry breaks its own hash and a
deleted one breaks the chain; ``audit_head`` keeps the newest sequence number and hash so that
removing entries from the end is detected too. Database triggers refuse UPDATE and DELETE on
the table; the chain catches anyone who goes around them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Integer,
    String,
    Text,
    bindparam,
    event,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments.db import Base, UTCDateTime, utcnow
from payments.prepared import Prepared, current_transaction, insert_into, known_transaction

GENESIS = "0" * 64
_PG_LOCK_KEY = 7270011  # advisory lock id that serializes appends on PostgreSQL


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    office_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the newest entry's sequence number and hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


_SQLITE_GUARDS = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
]
_PG_GUARDS = [
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
]
APPEND_ONLY_DDL = {"sqlite": _SQLITE_GUARDS, "postgresql": _PG_GUARDS}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _sql in _statements:
        event.listen(AuditEvent.__table__, "after_create", DDL(_sql).execute_if(dialect=_dialect))


def _digest(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The hash of an entry, from its column values (a row mapping or a dict)."""
    return _digest(_hash_fields(entry))


def _hash_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    at = entry["at"] if entry["at"].tzinfo else entry["at"].replace(tzinfo=dt.UTC)
    return {
        "seq": entry["seq"],
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": entry["actor"],
        "action": entry["action"],
        "entity": entry["entity"],
        "entity_id": entry["entity_id"],
        "office_id": entry["office_id"],
        "details": entry["details"],
        "prev_hash": entry["prev_hash"],
    }


# The append runs once per payment (and per drawer, day and staff change), so its statements
# are prepared (see payments.prepared). The head is read once per transaction: the transaction
# holds the lock that serializes appends (SQLite: BEGIN IMMEDIATE's write lock; PostgreSQL: the
# advisory lock below), so no one else can move the head until it ends, and the entries this
# transaction appends are the only change. The state is kept with the transaction
# (``payments.prepared.Transaction.scratch``), which is forgotten when it or a SAVEPOINT in it
# ends, so a rolled-back SAVEPOINT, a commit or a rollback always leads to a fresh read.
_E = AuditEvent.__table__
_H = AuditHead.__table__
_LOCK = Prepared(select(func.pg_advisory_xact_lock(bindparam("k", type_=BigInteger))))
_READ_HEAD = Prepared(select(_H.c.seq, _H.c.hash).where(_H.c.id == 1).with_for_update())
_INSERT_EVENT = Prepared(insert_into(_E))
_INSERT_HEAD = Prepared(insert_into(_H))
_UPDATE_HEAD = Prepared(
    update(_H).where(_H.c.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash"))
)
_STATE = "payments.audit.head"


@dataclass
class _Head:
    seq: int | None = None  # None: locked, not read yet
    hash: str = GENESIS
    exists: bool = True


def _state(session: Session) -> _Head:
    """This transaction's view of the head, taking the PostgreSQL append lock on first use."""
    transaction = current_transaction(session)
    state = transaction.scratch.get(_STATE)
    if state is None:
        if transaction.postgresql:
            _LOCK.one(session, {"k": _PG_LOCK_KEY})
        state = transaction.scratch[_STATE] = _Head()
    return state


def appended(session: Session) -> bool:
    """Whether the session's open transaction has appended entries not yet committed."""
    transaction = known_transaction(session)
    state = transaction.scratch.get(_STATE) if transaction is not None else None
    return state is not None and state.seq is not None


def lock(session: Session) -> None:
    """Take the append lock now (PostgreSQL; a no-op on SQLite, where BEGIN IMMEDIATE already
    serializes writers). Payment code takes it before any row lock: one lock order."""
    _state(session)


def record(
    session: Session,
    action: str,
    *,
    actor: str,
    entity: str | None = None,
    entity_id: str | int | None = None,
    office_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an entry in the caller's transaction (it commits or rolls back with it). The
    entry is written at once, with a prepared statement (no ORM object)."""
    # The caller's pending changes are written first, as an ORM query would autoflush them:
    # callers rely on the entry and their rows reaching the database together, in order.
    session.flush()
    head = _state(session)
    if head.seq is None:
        row = _READ_HEAD.one(session, {})
        head.seq, head.hash, head.exists = (row[0], row[1], True) if row else (0, GENESIS, False)
    values = {
        "seq": head.seq + 1,
        "at": utcnow(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "office_id": office_id,
        "details": json.dumps(details or {}, sort_keys=True, default=str, ensure_ascii=False),
        "prev_hash": head.hash,
    }
    values["hash"] = entry_hash(values)
    _INSERT_EVENT.run(session, values)
    (_UPDATE_HEAD if head.exists else _INSERT_HEAD).run(
        session, {"id": 1, "seq": values["seq"], "hash": values["hash"]}
    )
    head.seq, head.hash, head.exists = values["seq"], values["hash"], True


_EVENT_COLUMNS = [c.key for c in _E.columns]


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain from the start; report the first entry that was edited or removed.

    ``first_broken_seq`` is the earliest entry that can no longer be trusted; every entry
    before it is proven by the chain.
    """
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seq > last_seq)
            .order_by(AuditEvent.seq)
            .limit(batch)
            .execution_options(populate_existing=True)
        ).all()
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return ChainReport(False, checked, expected_seq, f"entry {expected_seq} is missing")
            if entry_hash({c: getattr(ev, c) for c in _EVENT_COLUMNS}) != ev.hash:
                return ChainReport(False, checked, ev.seq, "entry was altered after it was written")
            if ev.prev_hash != expected_prev:
                # This entry is intact in itself but no longer links to its predecessor: the
                # predecessor was altered and its hash recomputed (or replaced).
                if ev.seq == 1:
                    return ChainReport(False, 0, 1, "entry was altered and re-hashed")
                return ChainReport(
                    False,
                    checked - 1,
                    ev.seq - 1,
                    f"entry was altered and re-hashed: entry {ev.seq} no longer links to it",
                )
            expected_prev, expected_seq = ev.hash, ev.seq + 1
            checked += 1
        last_seq = rows[-1].seq
    head = session.get(AuditHead, 1, populate_existing=True)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq > checked:
        return ChainReport(
            False,
            checked,
            checked + 1,
            f"entries {checked + 1} to {head_seq} were removed (newest entries missing)",
        )
    if head_seq < checked:
        return ChainReport(
            False, head_seq, head_seq + 1, f"entries after {head_seq} were added outside the log"
        )
    if head_hash != expected_prev:
        return ChainReport(
            False,
            checked - 1,
            checked,
            "entry was altered and re-hashed: it no longer matches the recorded head",
        )
    return ChainReport(True, checked)
