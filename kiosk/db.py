"""The database as seen from Flask: one engine per app, one session per request.

Views take ``db.session()``, call one domain function and commit; the session is closed (and
anything uncommitted rolled back) when the request ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from payments.db import Base, make_engine, make_session_factory


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    def create_all(self) -> None:
        import kiosk.models  # noqa: F401  (registers every table)

        Base.metadata.create_all(self.engine)


def init_app(app: Flask) -> Database:
    database = Database(*_engine_and_factory(app.config["DATABASE_URL"]))
    app.extensions["payoffice.db"] = database
    app.teardown_appcontext(_close_session)
    return database


def _engine_and_factory(url: str):
    engine = make_engine(url)
    return engine, make_session_factory(engine)


def database() -> Database:
    return current_app.extensions["payoffice.db"]


def session() -> Session:
    """The request's session (created on first use)."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()
