"""The shared declarative base, engine construction and time helpers.

Every record of the office (payments here, accounts and visits in ``kiosk``) maps onto this
one metadata, so a single Alembic history covers the whole schema.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OFFICE_TZ = ZoneInfo("America/Los_Angeles")


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC times")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect):
        """On SQLite, one step to the stored text instead of two (this type's conversion, then
        SQLite ``DATETIME``'s formatting through a dict): the same text, "2026-11-24
        01:02:03.456789", at a sixth of the cost; every payment binds six timestamps."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        to_utc = self.process_bind_param

        def process(value):
            return None if value is None else to_utc(value, dialect).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Now, in UTC, timezone-aware. All timestamps are stored in UTC."""
    return dt.datetime.now(dt.UTC)


def business_date(at: dt.datetime | None = None, tz: ZoneInfo = OFFICE_TZ) -> dt.date:
    """The office's local calendar date for an instant (the business day it belongs to)."""
    at = at or utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(tz).date()


CLOCK = "%-I:%M %p"  # 9:05 AM
DATE_AND_CLOCK = "%Y-%m-%d %-I:%M %p"  # 2026-11-20 9:05 AM


def office_time(
    at: dt.datetime | None, fmt: str = CLOCK, *, blank: str = "—", tz: ZoneInfo = OFFICE_TZ
) -> str:
    """A stored UTC instant on the office's clock, for people to read ("9:05 AM")."""
    if at is None:
        return blank
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(tz).strftime(fmt)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
        # The sqlite3 module opens transactions lazily and never for SELECT; take over so
        # BEGIN IMMEDIATE can be issued for writers and reads see one snapshot.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
        # instead of failing with "database is locked" when a reader upgrades. Sent on the
        # DBAPI connection: one bare statement, as a raw sqlite3 loop would (exec_driver_sql
        # costs a cursor, an execution context and events, about 0.2 ms per transaction).
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE").close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)
