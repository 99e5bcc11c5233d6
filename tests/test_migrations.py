"""The Alembic history builds exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import kiosk.models  # noqa: F401
from kiosk.migrate import current_revision, upgrade
from payments.db import Base, make_engine


def _fresh_engine(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        return make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    engine = make_engine(database_url)
    with engine.begin() as conn:  # the fixture created tables with create_all; start empty
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine


def _restore(engine, pg_database) -> None:
    """Leave the shared PostgreSQL test database as the fixture made it."""
    if pg_database is not None:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        Base.metadata.create_all(engine)
    engine.dispose()


def test_upgrade_matches_models_and_is_repeatable(database_url, tmp_path, pg_database):
    engine = _fresh_engine(database_url, tmp_path)
    try:
        upgrade(engine)
        upgrade(engine)  # a second run is a no-op
        assert current_revision(engine) is not None
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        _restore(engine, pg_database)


def test_audit_table_refuses_updates_after_migration(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        triggers = (
            conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            .scalars()
            .all()
        )
    assert {"audit_events_no_update", "audit_events_no_delete"} <= set(triggers)


def test_expression_indexes_are_created(database_url, tmp_path, pg_database):
    """Autogenerate cannot compare expression indexes on SQLite, so check they exist by name."""
    engine = _fresh_engine(database_url, tmp_path)
    try:
        upgrade(engine)
        query = (
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            if engine.dialect.name == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        )
        with engine.connect() as conn:
            names = set(conn.execute(text(query)).scalars())
        assert {"ix_accounts_name_upper", "ix_accounts_phone_digits"} <= names
    finally:
        _restore(engine, pg_database)


def test_flagged_payments_are_counted_from_their_partial_index(database_url, tmp_path, pg_database):
    """The count on every finance page reads only the flagged payments' index entries."""
    engine = _fresh_engine(database_url, tmp_path)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                plan = conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT count(*) FROM payments "
                    "WHERE office_id = ? AND needs_review IS 1",
                    (1,),
                ).all()
                assert "ix_payments_needs_review" in plan[0][-1]
            else:
                definition = conn.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes "
                        "WHERE indexname = 'ix_payments_needs_review'"
                    )
                ).scalar_one()
                assert "WHERE (needs_review IS TRUE)" in definition
    finally:
        _restore(engine, pg_database)


def test_a_database_made_at_0001_upgrades_with_its_rows(database_url, tmp_path, pg_database):
    """An office (or a demo instance) made before 0002 keeps its payments and messages."""
    engine = _fresh_engine(database_url, tmp_path)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox_messages (topic, key, payload, status, attempts, "
                    "available_at, created_at) VALUES ('cis.visit', 'v1', '{}', 'pending', 0, "
                    "'2026-11-23 17:00:00.000000', '2026-11-23 17:00:00.000000')"
                )
            )
        upgrade(engine)
        assert current_revision(engine) == "0002"
        with engine.connect() as conn:
            row = conn.execute(text("SELECT key, office_id FROM outbox_messages")).one()
            void_reason = conn.execute(text("SELECT void_reason FROM payments")).all()
        assert tuple(row) == ("v1", None) and void_reason == []
    finally:
        _restore(engine, pg_database)
