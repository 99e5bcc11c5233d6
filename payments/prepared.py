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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction
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
        transaction = current_transaction(session)
        sql, arguments = self._for(transaction.dialect)
        cursor = transaction.connection.cursor()
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


@dataclass(slots=True)
class Transaction:
    """The session's database transaction as the prepared statements see it: its DBAPI
    connection and dialect, and ``scratch`` for what other modules keep per transaction (the
    audit head). Forgotten when a SAVEPOINT begins or ends, when the transaction ends, and
    when a failed flush makes it unusable."""

    connection: Any
    dialect: Dialect
    postgresql: bool
    scratch: dict[str, Any] = field(default_factory=dict)


_CURRENT = "payments.prepared.transaction"


def current_transaction(session: Session) -> Transaction:
    """The session's transaction, begun if none is open (``session.connection()`` begins it,
    or refuses one that failed). A payment runs fourteen statements in one transaction;
    asking the session each time would cost more than running some of them."""
    known = session.info.get(_CURRENT)
    if known is not None:
        return known
    conn = session.connection()
    known = session.info[_CURRENT] = Transaction(
        conn.connection.dbapi_connection, conn.dialect, conn.dialect.name == "postgresql"
    )
    return known


def known_transaction(session: Session) -> Transaction | None:
    """The session's transaction if one is open and known here; never begins one."""
    return session.info.get(_CURRENT)


def transaction_connection(session: Session) -> tuple[Any, Dialect]:
    """The DBAPI connection of the session's transaction, and its dialect."""
    known = current_transaction(session)
    return known.connection, known.dialect


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begins(session: Session, transaction: SessionTransaction) -> None:
    """A SAVEPOINT is emitted when its transaction first asks for the connection: ask again."""
    if transaction.nested:
        session.info.pop(_CURRENT, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    """Forget the transaction when it ends, when a SAVEPOINT ends (what was kept inside it may
    be undone), or when anything leaves it inactive (a failed flush rolls the database
    transaction back at once). A flush's own inner transaction ending well changes nothing."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_CURRENT, None)
        return
    root = session.get_transaction()
    if root is None or not root.is_active:
        session.info.pop(_CURRENT, None)


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
        pick = _picker(names)
        converted = [(i, processors[name]) for i, name in enumerate(names) if name in processors]

        def positional(params: dict[str, Any]) -> tuple:
            values = pick({**fixed, **params} if fixed else params)
            if not converted:
                return values
            values = list(values)
            for i, proc in converted:
                if values[i] is not None:
                    values[i] = proc(values[i])
            return tuple(values)

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


def _picker(names: list[str]) -> Callable[[dict[str, Any]], tuple]:
    """A function from named parameters to their values in ``names`` order, as a tuple."""
    if len(names) > 1:
        return itemgetter(*names)  # in C
    if len(names) == 1:
        (only,) = names
        return lambda params: (params[only],)
    return lambda params: ()
