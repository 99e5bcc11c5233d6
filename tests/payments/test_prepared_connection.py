"""payments.prepared keeps the DBAPI connection per transaction: it never outlives the
transaction, follows SAVEPOINTs, and does not run statements in a transaction that failed."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select
from sqlalchemy.exc import IntegrityError, PendingRollbackError

from payments.outbox import OutboxMessage
from payments.prepared import Prepared, transaction_connection

_ONE = Prepared(select(literal(1)))


def test_one_connection_per_transaction_and_a_fresh_look_after_it_ends(session):
    first, _ = transaction_connection(session)
    assert transaction_connection(session)[0] is first
    assert first is session.connection().connection.dbapi_connection
    transaction = session.get_transaction()
    session.commit()
    assert _ONE.one(session, {}) == (1,)
    assert session.get_transaction() is not transaction
    assert transaction_connection(session)[0] is session.connection().connection.dbapi_connection
    session.rollback()
    assert _ONE.one(session, {}) == (1,)


def test_savepoint_uses_the_same_connection(session):
    outer, _ = transaction_connection(session)
    with session.begin_nested():
        assert transaction_connection(session)[0] is outer
        assert _ONE.one(session, {}) == (1,)
    assert _ONE.one(session, {}) == (1,)


def test_a_failed_transaction_refuses_prepared_statements_until_rolled_back(session):
    assert _ONE.one(session, {}) == (1,)
    session.add(OutboxMessage(topic=None, key="k", payload="{}"))
    with pytest.raises(IntegrityError):
        session.flush()
    with pytest.raises(PendingRollbackError):
        _ONE.one(session, {})
    session.rollback()
    assert _ONE.one(session, {}) == (1,)
