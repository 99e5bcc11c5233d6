"""The transactional outbox: messages to the CIS, printers and email.

A message is written in the same transaction as the record it reports, so a payment and the
news of it commit together or not at all. ``deliver_due`` hands each message to the handler for
its topic outside any transaction; receivers are idempotent by the message's ``key`` (the
record id), so a crash between delivery and marking delivered cannot create a second record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from payments.db import Base, UTCDateTime, utcnow
from payments.prepared import Prepared, insert_into

log = logging.getLogger(__name__)

PENDING, DELIVERED = "pending", "delivered"
LEASE = dt.timedelta(minutes=2)
BACKOFF_BASE_S, BACKOFF_MAX_S = 5, 600


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("topic", "key", name="topic_key"),
        Index("ix_outbox_due", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The office whose record the message carries (None: not one office's): a day close
    # waits only for its own office's CIS postings.
    office_id: Mapped[int | None] = mapped_column(Integer)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    acknowledgment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)


class DeliveryError(Exception):
    """The receiver is unavailable or refused the message for now; try again later."""


Handler = Callable[[OutboxMessage], str | None]


def enqueue(
    session: Session,
    topic: str,
    key: str,
    payload: Mapping[str, Any],
    *,
    office_id: int | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction. ``key`` identifies the record it reports;
    ``office_id`` the office whose record it is."""
    msg = OutboxMessage(
        topic=topic,
        key=key,
        payload=json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False),
        office_id=office_id,
    )
    session.add(msg)
    return msg


def enqueue_now(
    session: Session,
    topic: str,
    key: str,
    payload: Mapping[str, Any],
    *,
    office_id: int | None = None,
) -> None:
    """``enqueue`` for hot paths (a payment's CIS message): the row is written at once with a
    prepared statement, in the caller's transaction, and no ORM object is kept."""
    now = utcnow()
    _INSERT.run(
        session,
        {
            "topic": topic,
            "key": key,
            "payload": json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False),
            "status": PENDING,
            "attempts": 0,
            "office_id": office_id,
            "available_at": now,
            "created_at": now,
        },
    )


_INSERT = Prepared(
    insert_into(
        OutboxMessage.__table__,
        [
            "topic",
            "key",
            "payload",
            "status",
            "attempts",
            "office_id",
            "available_at",
            "created_at",
        ],
    )
)


@dataclass
class DeliveryRun:
    delivered: int = 0
    failed: int = 0


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver_due(
    sessions: sessionmaker[Session],
    handlers: Mapping[str, Handler],
    *,
    limit: int = 100,
    now: dt.datetime | None = None,
    topics: list[str] | None = None,
) -> DeliveryRun:
    """Deliver up to ``limit`` due messages, oldest first, each under a short lease."""
    run = DeliveryRun()
    worker = _worker_id()
    wanted = list(topics or handlers.keys())
    for _ in range(limit):
        at = now or utcnow()
        with sessions.begin() as session:
            msg = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == PENDING,
                    OutboxMessage.topic.in_(wanted),
                    OutboxMessage.available_at <= at,
                    or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < at),
                )
                .order_by(OutboxMessage.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if msg is None:
                break
            msg.leased_until, msg.leased_by = at + LEASE, worker
            msg.attempts += 1
            session.flush()
            session.expunge(msg)
        try:
            ack = handlers[msg.topic](msg)
        except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
            if not isinstance(exc, DeliveryError):
                log.exception("outbox handler for %s crashed on message %s", msg.topic, msg.id)
            with sessions.begin() as session:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == msg.id, OutboxMessage.leased_by == worker)
                    .values(
                        leased_until=None,
                        leased_by=None,
                        last_error=f"{type(exc).__name__}: {exc}"[:2000],
                        available_at=utcnow() + _backoff(msg.attempts),
                    )
                )
            run.failed += 1
            continue
        with sessions.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == msg.id)
                .values(
                    status=DELIVERED,
                    delivered_at=utcnow(),
                    leased_until=None,
                    last_error=None,
                    acknowledgment=ack,
                )
            )
        run.delivered += 1
    return run


@dataclass(frozen=True)
class OutboxState:
    pending: int
    failing: int
    oldest_pending_at: dt.datetime | None


def state(session: Session) -> OutboxState:
    """Counts for health checks: pending messages, those that have failed at least once."""
    from sqlalchemy import func

    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == PENDING
        )
    ).one()
    failing = session.scalar(
        select(func.count()).where(
            OutboxMessage.status == PENDING, OutboxMessage.last_error.is_not(None)
        )
    )
    return OutboxState(pending, failing or 0, oldest)
