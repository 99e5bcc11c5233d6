"""payments.db's UTC timestamp type: stored as UTC text on SQLite, read back timezone-aware."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import DateTime

from payments.db import UTCDateTime, make_engine

LA = ZoneInfo("America/Los_Angeles")
STORED = [  # an instant, and its text in a SQLite column
    (dt.datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=dt.UTC), "2026-11-24 01:02:03.456789"),
    (dt.datetime(2026, 11, 24, 1, 2, 3, tzinfo=dt.UTC), "2026-11-24 01:02:03.000000"),
    (dt.datetime(2026, 3, 8, 1, 59, 59, 999999, tzinfo=LA), "2026-03-08 09:59:59.999999"),
    (dt.datetime(2026, 11, 1, 1, 30, tzinfo=LA, fold=1), "2026-11-01 09:30:00.000000"),
    (dt.datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), "0999-01-02 03:04:05.000006"),
]
INSTANTS = [value for value, _ in STORED]


def _sqlalchemy_text(value: dt.datetime) -> str:
    """What SQLAlchemy's own two steps make of the value (UTC conversion, DATETIME format)."""
    dialect = sqlite.dialect()
    plain = UTCDateTime().process_bind_param(value, dialect)
    return DateTime().dialect_impl(dialect).bind_processor(dialect)(plain)


@pytest.mark.parametrize(("value", "stored"), STORED, ids=[s for _, s in STORED])
def test_sqlite_text_is_the_text_sqlalchemy_would_store(value, stored):
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours(value) == _sqlalchemy_text(value) == stored
    assert ours(None) is None


def test_naive_times_are_refused():
    dialect = sqlite.dialect()
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().dialect_impl(dialect).bind_processor(dialect)(dt.datetime(2026, 1, 1))


def test_round_trip_through_a_sqlite_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'times.db'}")
    table = Table(
        "times", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "at": v} for i, v in enumerate(INSTANTS)])
        stored = conn.execute(text("SELECT at FROM times ORDER BY id")).scalars().all()
        back = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    assert stored == [text for _, text in STORED]
    assert [b.timestamp() for b in back] == [v.timestamp() for v in INSTANTS]
    assert all(b.tzinfo is dt.UTC for b in back)
