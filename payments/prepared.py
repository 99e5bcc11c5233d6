"""Prepared statements for the hot path of a payment.

Committing a cash payment takes fourteen statements. Built, cached and run through
SQLAlchemy's ``Session.execute`` (and the ORM unit of work), each costs several times what the
database spends on it, so the statements a payment always runs are SQLAlchemy Core built once
at import, compiled once per dialect, and run on the DBAPI cursor of the session's connection,
inside the session's transaction. Bound values still go through the column types' bind
processors (dates and UTC timestamps are stored exactly as the ORM stores them).

These statements bypass the session's autoflush: a caller with pending ORM changes that the
statements must see calls ``session.flush()`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

Arguments = Callable[[dict[str, Any]], Any]


class Prepared:
    """One Core statement with named bound parameters, compiled once per dialect.

    ``stmt`` may be a function that builds the statement, called on first use: for statements
    on tables another package registers (``kiosk``'s accounts and bills)."""

    __slots__ = ("_stmt", "_compiled")

    def __init__(self, stmt: ClauseElement | Callable[[], ClauseElement]):
        self._stmt = stmt
        self._compiled: dict[str, tuple[str, Arguments]] = {}

    @property
    def stmt(self) -> ClauseElement:
        if not isinstance(self._stmt, ClauseElement):
            self._stmt = self._stmt()
        return self._stmt

    def _for(self, dialect: Dialect) -> tuple[str, Arguments]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.stmt, dialect)
        return compiled

    def execute(self, session: Session, params: dict[str, Any]):
        """Run in the session's transaction (starting it if needed); return the DBAPI cursor."""
        dbapi_connection, dialect = transaction_connection(session)
        sql, arguments = self._for(dialect)
        cursor = dbapi_connection.cursor()
        cursor.execute(sql, arguments(params))
        return cursor

    def run(self, session: Session, params: dict[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        cursor = self.execute(session, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def one(self, session: Session, params: dict[str, Any]) -> tuple | None:
        """The first row as a plain tuple, or None."""
        cursor = self.execute(session, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def all(self, session: Session, params: dict[str, Any]) -> list[tuple]:
        cursor = self.execute(session, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()


_CONNECTION = "payments.prepared.connection"


def transaction_connection(session: Session) -> tuple[Any, Dialect]:
    """The DBAPI connection of the session's transaction, and its dialect.

    A payment runs fourteen statements in one transaction; asking the session each time costs
    more than running some of them, so the answer is kept for the innermost transaction while
    it is active. A new transaction (commit, rollback, SAVEPOINT) or an inactive one (after a
    failed flush) goes through ``session.connection()``, which begins or refuses as usual."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if cached is not None and cached[0] is transaction and transaction.is_active:
        return cached[1], cached[2]
    conn = session.connection()
    transaction = session.get_nested_transaction() or session.get_transaction()
    dbapi_connection = conn.connection.dbapi_connection
    session.info[_CONNECTION] = (transaction, dbapi_connection, conn.dialect)
    return dbapi_connection, conn.dialect


def insert_into(table: Table, names: Sequence[str] | None = None):
    """``INSERT INTO table (names...) VALUES (:name, ...)``, typed by the columns (all columns
    by default)."""
    names = list(names) if names is not None else [c.key for c in table.columns]
    return insert(table).values({n: bindparam(n, type_=table.c[n].type) for n in names})


def _compile(stmt: ClauseElement, dialect: Dialect) -> tuple[str, Arguments]:
    """The statement's SQL for ``dialect`` and a function from our named parameters to the
    driver's (a tuple in order for positional paramstyles such as SQLite's, else a dict),
    with each value passed through its type's bind processor."""
    c = stmt.compile(dialect=dialect)
    fixed = {name: b.value for name, b in c.binds.items() if not b.required}
    processors = {
        name: proc
        for name, b in c.binds.items()
        if (proc := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    }
    if c.positional:
        names = list(c.positiontup)
        steps = [(name, processors.get(name)) for name in names]

        def positional(params: dict[str, Any]) -> tuple:
            out = []
            for name, proc in steps:
                value = params[name] if name in params else fixed[name]
                out.append(value if proc is None or value is None else proc(value))
            return tuple(out)

        return c.string, positional
    names = list(c.binds)
    steps = [(name, c.escaped_bind_names.get(name, name), processors.get(name)) for name in names]

    def named(params: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, key, proc in steps:
            value = params[name] if name in params else fixed[name]
            out[key] = value if proc is None or value is None else proc(value)
        return out

    return c.string, named
