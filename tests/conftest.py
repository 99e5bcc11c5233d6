"""Fixtures shared by every test.

The suite runs against SQLite by default and against a private PostgreSQL cluster with
``PAYOFFICE_TEST_DB=postgresql`` (``make test`` does both).
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
from sqlalchemy import text

from kiosk import create_app
from kiosk.auth import DEVICE_COOKIE
from payments.db import Base, make_engine, make_session_factory
from tests import factories
from tests.support.security import cheap_argon2  # noqa: F401  (autouse: fast hashing in tests)

TEST_DB = os.environ.get("PAYOFFICE_TEST_DB", "sqlite")


def pytest_report_header(config):
    return f"payoffice database: {TEST_DB}"


@pytest.fixture(scope="session")
def pg_cluster():
    if TEST_DB != "postgresql":
        yield None
        return
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_database(pg_cluster):
    """One PostgreSQL database with the schema, emptied between tests."""
    if pg_cluster is None:
        yield None
        return
    import kiosk.models  # noqa: F401

    admin = make_engine(pg_cluster.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE payoffice_test"))
    admin.dispose()
    url = pg_cluster.url("payoffice_test")
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def database_url(tmp_path, pg_database) -> str:
    if pg_database is None:
        return f"sqlite:///{tmp_path / 'test.db'}"
    engine = make_engine(pg_database)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_database


@pytest.fixture
def engine(database_url):
    import kiosk.models  # noqa: F401

    eng = make_engine(database_url)
    if eng.dialect.name == "sqlite":
        Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine):
    return make_session_factory(engine)


@pytest.fixture
def session(sessions):
    s = sessions()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def office(session):
    o = factories.make_office(session)
    session.commit()
    return o


@pytest.fixture
def app(engine, database_url, tmp_path):
    application = create_app(
        {
            "ENV_NAME": "test",
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-" + uuid.uuid4().hex,
            # Tests deliver print jobs themselves; a background pass would race their checks.
            "PRINT_IMMEDIATELY": False,
        }
    )
    yield application
    application.extensions["payoffice.db"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_token(client, page: str = "/login") -> str:
    """Read the CSRF token a page hands to its own scripts and forms."""
    html = client.get(page).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def login(client, username: str, password: str = factories.PASSWORD):
    token = csrf_token(client)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


@pytest.fixture
def login_as(client, sessions, office):
    """``login_as("cashier")`` signs a fresh user with that role into ``client``."""

    def _login(role: str, **kw):
        with sessions() as s:
            user = factories.make_staff(s, role, office_id=office.id, **kw)
            s.commit()
        response = login(client, user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return _login


@pytest.fixture
def kiosk_client(app, sessions, office):
    """A test client paired as a kiosk device."""
    from kiosk.stations import pair

    with sessions() as s:
        station, code = factories.make_station(s, s.merge(office), "kiosk", name="Lobby kiosk")
        _, token = pair(s, code)
        s.commit()
    c = app.test_client()
    c.set_cookie(DEVICE_COOKIE, token)
    c.station_id = station.id
    return c
