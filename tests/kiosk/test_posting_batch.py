"""The day's posting batch to the CIS: made when the day closes, with control totals equal to
the daily report; written by the file adapter as postings-<office>-<date>.csv with a control
trailer and acknowledged through an ack file (``payoffice cis read-acks``); sent by the http
adapter to a real stand-in CIS on 127.0.0.1 that is down (503), then recovers: the batch waits
in the outbox and is delivered later with the acknowledgment recorded; mismatching totals in an
acknowledgment -> rejected, shown on the finance page; a reclosed day supersedes its batch."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kiosk import payment_hooks
from kiosk.cis import posting_batches
from kiosk.cis.cli import cis_group
from kiosk.models import StaffUser
from kiosk.worker import build_handlers
from payments import audit, days, outbox, posting_batch, reports, service
from payments.db import business_date, utcnow
from payments.outbox import DELIVERED, PENDING, OutboxMessage
from payments.posting import CIS_TOPICS
from payments.posting_batch import CIS_POSTING_BATCH_TOPIC, PostingBatch
from payments.simulated import SimulatedReader
from tests import factories
from tests.conftest import login
from tests.payments.conftest import command, make_world, tender

LATER = dt.timedelta(hours=2)  # past any outbox backoff


@pytest.fixture(autouse=True)
def _hooks():
    payment_hooks.register()


def _staff(session, office, roles: str) -> StaffUser:
    user = StaffUser(
        username=f"pb-{roles}-{utcnow().timestamp()}".replace(".", ""),
        full_name=f"PB {roles}",
        password_hash="!",
        roles=roles,
        office_id=office.id,
    )
    session.add(user)
    session.flush()
    return user


def build_day(session, office):
    """Cash with change, a check, a money order voided the same day, a split, a kiosk card
    payment and a refund (today) of yesterday's payment."""
    world = make_world(session, office)
    counter, _ = factories.make_station(session, world.office, "counter", name="Counter 1")
    kiosk, _ = factories.make_station(session, world.office, "kiosk", name="Lobby kiosk")
    cashier = _staff(session, world.office, "cashier")
    session.commit()
    here = {"station_id": counter.id, "staff_user_id": cashier.id, "confirm_duplicate": True}
    pay = service.create_payment
    old = pay(session, command(world, 900, **here), now=utcnow() - dt.timedelta(days=1)).payment
    pay(session, command(world, 1250, tender("cash", 2000), **here))
    pay(session, command(world, 800, tender("check", 800, "2231"), **here))
    mo = pay(session, command(world, 600, tender("money_order", 600, "MO-7"), **here)).payment
    pay(session, command(world, 1000, tender("cash", 300), tender("check", 700, "88"), **here))
    card = pay(
        session,
        command(
            world,
            1500,
            tender("card", 1500),
            channel="kiosk",
            station_id=kiosk.id,
            confirm_duplicate=True,
        ),
    ).payment
    reader = SimulatedReader(session)
    service.start_card(session, card, reader, reader_id="sim-1", actor="kiosk")
    service.refresh_card(session, card, reader, actor="kiosk")
    session.commit()
    service.void_payment(session, mo, supervisor_id=world.supervisor.id, actor="sup")
    service.refund_payment(
        session,
        old,
        amount_cents=400,
        supervisor_id=world.supervisor.id,
        refund_key=f"refund-{old.id}",
        actor="sup",
        reason="overpaid",
    )
    session.commit()
    return world


def deliver_records(sessions) -> None:
    """The per-record CIS postings (not the batch): acknowledged by a stand-in handler."""
    outbox.deliver_due(sessions, {t: (lambda m: "ack") for t in CIS_TOPICS}, limit=1000)


def close(session, sessions, office_id) -> PostingBatch:
    deliver_records(sessions)
    days.close_day(session, office_id, business_date(), "fin1")
    session.commit()
    batch = session.scalars(
        select(PostingBatch)
        .where(PostingBatch.office_id == office_id)
        .order_by(PostingBatch.id.desc())
    ).first()
    session.commit()  # SQLite: end the read so the worker's sessions can write
    return batch


def deliver_batches(app, now=None, limit=100):
    with app.app_context():
        handlers = build_handlers(app.config)
        return outbox.deliver_due(
            app.extensions["payoffice.db"].sessions,
            handlers,
            topics=[CIS_POSTING_BATCH_TOPIC],
            now=now,
            limit=limit,
        )


def _message(sessions, reference) -> OutboxMessage:
    with sessions() as s:
        return s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.topic == CIS_POSTING_BATCH_TOPIC, OutboxMessage.key == reference
            )
        ).one()


def _batch(sessions, reference) -> PostingBatch:
    with sessions() as s:
        batch = posting_batch.get_by_reference(s, reference)
        s.expunge(batch)
        return batch


# -- control totals ----------------------------------------------------------------------------


def test_closing_the_day_makes_a_batch_whose_totals_equal_the_report(session, sessions, office):
    world = build_day(session, office)
    batch = close(session, sessions, world.office.id)
    day = business_date()
    assert batch.reference == f"SA-{day.isoformat()}-v1" and batch.status == "pending"
    report = reports.daily_report(session, world.office.id, day)
    assert (batch.payments_count, batch.payments_cents) == (
        report.receipted.count,
        report.receipted.amount_cents,
    )
    assert (batch.voids_count, batch.voids_cents) == (
        report.voided.count,
        report.voided.amount_cents,
    )
    assert (batch.refunds_count, batch.refunds_cents) == (
        report.refunds.count,
        report.refunds.amount_cents,
    )
    assert batch.net_cents == report.collected.amount_cents - report.refunds.amount_cents
    assert batch.control() == {
        "payment": {"count": 5, "amount_cents": 1250 + 800 + 600 + 1000 + 1500},
        "payment_void": {"count": 1, "amount_cents": 600},
        "refund": {"count": 1, "amount_cents": 400},
    }
    # the records the adapters send add up to the same totals
    body = posting_batch.contents(session, batch)
    assert posting_batch.totals_of(body["records"]) == batch.control()
    assert {r["record_type"] for r in body["records"]} == {"payment", "payment_void", "refund"}
    reference, control = batch.reference, batch.control()
    session.rollback()  # SQLite: one writer at a time (every transaction takes the write lock)
    # one outbox message, in the close's transaction, and the close is audited with it
    msg = _message(sessions, reference)
    assert msg.status == PENDING and msg.data["control"] == control
    actions = session.scalars(select(audit.AuditEvent.action)).all()
    assert "posting_batch.created" in actions and "day.closed" in actions
    # a pending batch never holds back the next day's close
    assert not [
        b
        for b in days.close_blockers(session, world.office.id, day + dt.timedelta(days=1))
        if b.code == "cis_undelivered"
    ]


# -- file adapter and ack files ----------------------------------------------------------------


def _write_ack(exchange: Path, batch: PostingBatch, control: dict, status="accepted") -> Path:
    inbound = exchange / "inbound"
    inbound.mkdir(parents=True, exist_ok=True)
    lines = [f"A,{batch.reference},CIS-ACK-{batch.id},{status}"]
    lines += [f"T,{k},{v['count']},{v['amount_cents']}" for k, v in control.items()]
    path = inbound / f"postings-SA-{batch.business_date.isoformat()}.ack"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_file_adapter_writes_the_posting_file_and_reads_the_ack(
    app, session, sessions, office, tmp_path
):
    exchange = tmp_path / "cis"
    app.config.update(CIS_ADAPTER="file", CIS_EXCHANGE_DIR=str(exchange))
    world = build_day(session, office)
    batch = close(session, sessions, world.office.id)
    assert deliver_batches(app).delivered == 1
    name = f"postings-SA-{batch.business_date.isoformat()}.csv"
    rows = list(csv.reader(io.StringIO((exchange / "outbound" / name).read_text("utf-8"))))
    assert rows[0][:6] == [
        "H",
        "payoffice-postings",
        "1",
        "SA",
        batch.business_date.isoformat(),
        batch.reference,
    ]
    detail = [r for r in rows if r[0] == "D"]
    trailer = {r[1]: (int(r[2]), int(r[3])) for r in rows if r[0] == "T"}
    assert len(detail) == batch.record_count == 7
    for kind, totals in batch.control().items():
        lines = [r for r in detail if r[1] == kind]
        assert trailer[kind] == (totals["count"], totals["amount_cents"])
        assert (len(lines), sum(int(r[6]) for r in lines)) == trailer[kind]
    assert trailer["net"] == (7, batch.net_cents)
    sent = _batch(sessions, batch.reference)
    assert (sent.status, sent.adapter, sent.delivered_as) == ("sent", "file", name)
    assert _message(sessions, batch.reference).status == DELIVERED

    # the CIS's ack with matching totals -> acknowledged, the file archived
    ack = _write_ack(exchange, batch, batch.control())
    result = app.test_cli_runner().invoke(cis_group, ["read-acks"])
    assert result.exit_code == 0, result.output
    assert "acknowledged" in result.output
    done = _batch(sessions, batch.reference)
    assert (done.status, done.ack_reference) == ("acknowledged", f"CIS-ACK-{batch.id}")
    assert done.ack_at is not None and done.ack_detail is None
    assert not ack.exists() and list((exchange / "inbound" / "processed").iterdir())

    # a later ack whose totals differ -> rejected, named on the finance page
    wrong = batch.control()
    wrong["refund"] = {"count": 1, "amount_cents": 40}
    _write_ack(exchange, batch, wrong)
    result = app.test_cli_runner().invoke(cis_group, ["read-acks"])
    assert result.exit_code == 1 and "rejected" in result.output
    rejected = _batch(sessions, batch.reference)
    assert rejected.status == "rejected" and "refund amount_cents: ours 400, CIS 40" in (
        rejected.ack_detail
    )
    client = app.test_client()
    with sessions() as s:
        fin = factories.make_staff(s, "finance", office_id=world.office.id)
        s.commit()
    assert login(client, fin.username).status_code == 302
    html = client.get("/finance/postings").get_data(as_text=True)
    assert "Rejected by the CIS" in html and batch.reference in html
    assert "refund amount_cents: ours 400, CIS 40" in html
    api = client.get(f"/api/v1/postings/{batch.business_date.isoformat()}").get_json()
    assert [(b["reference"], b["status"]) for b in api["batches"]] == [
        (batch.reference, "rejected")
    ]
    assert api["batches"][0]["control"] == batch.control()
    # a garbled ack file is reported and left where it is
    bad = exchange / "inbound" / f"postings-SA-{batch.business_date.isoformat()}.ack"
    bad.write_text("hello\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(cis_group, ["read-acks"])
    assert result.exit_code == 1 and "error" in result.output and bad.exists()


def test_parse_ack_refuses_bad_files():
    for text in [
        "",
        "X,1,2,accepted",
        "A,ref,ack,maybe",
        "A,r,a,accepted\nT,payment,x,1",
        "A,r,a,accepted\nT,other,1,1",
    ]:
        with pytest.raises(posting_batches.AckFileError):
            posting_batches.parse_ack(text)
    ack = posting_batches.parse_ack("A,SA-2026-11-20-v1,C1,rejected,totals off\nT,refund,1,400\n")
    assert ack["accepted"] is False and ack["message"] == "totals off"
    assert ack["control"] == {"refund": {"count": 1, "amount_cents": 400}}


# -- http adapter: a CIS outage, then recovery -------------------------------------------------


class StandInCis:
    """A CIS web service on 127.0.0.1 that takes posting batches. ``mode``: up, down (503)
    or miscount (acknowledges with a wrong payment count)."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.mode = "up"
        self.batches: dict[str, dict] = {}
        self.posts = 0
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cis/v1"

    def wsgi(self, environ, start_response):
        request = Request(environ)
        self.posts += 1
        if self.mode == "down":
            response = Response("maintenance", status=503)
        elif request.method != "POST" or request.path != "/cis/v1/posting-batches":
            response = Response("{}", status=404, mimetype="application/json")
        else:
            body = json.loads(request.get_data(as_text=True))
            ref = body["header"]["reference"]
            assert request.headers["Idempotency-Key"] == ref
            self.batches[ref] = body
            counted = posting_batch.totals_of(body["records"])  # the CIS counts for itself
            if self.mode == "miscount":
                counted["payment"]["count"] += 1
            answer = {"confirmation": f"CIS-{ref}", "status": "accepted", "control": counted}
            response = Response(json.dumps(answer), status=201, mimetype="application/json")
        return response(environ, start_response)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def cis():
    server = StandInCis()
    yield server
    server.stop()


def _http(app, cis):
    app.config.update(
        CIS_ADAPTER="http",
        CIS_ENDPOINT=cis.url,
        CIS_RETRIES=1,
        CIS_RETRY_BACKOFF_SECONDS=0.01,
        CIS_TIMEOUT_SECONDS=5,
    )


def test_cis_outage_keeps_the_batch_in_the_outbox_until_it_recovers(
    app, session, sessions, office, cis
):
    _http(app, cis)
    world = build_day(session, office)
    batch = close(session, sessions, world.office.id)
    cis.mode = "down"
    run = deliver_batches(app)
    assert (run.delivered, run.failed) == (0, 1)
    msg = _message(sessions, batch.reference)
    assert msg.status == PENDING and "503" in msg.last_error and msg.attempts == 1
    assert _batch(sessions, batch.reference).status == "pending"
    assert cis.batches == {}
    # still down on the next due pass
    assert deliver_batches(app, now=utcnow() + LATER, limit=1).failed == 1

    cis.mode = "up"
    assert deliver_batches(app).delivered == 0  # not due yet: the outbox backs off
    run = deliver_batches(app, now=utcnow() + 2 * LATER, limit=1)
    assert run.delivered == 1
    msg = _message(sessions, batch.reference)
    assert msg.status == DELIVERED and msg.attempts == 3
    done = _batch(sessions, batch.reference)
    assert done.status == "acknowledged" and done.ack_reference == f"CIS-{batch.reference}"
    assert done.adapter == "http" and done.sent_at is not None and done.ack_at is not None
    sent = cis.batches[batch.reference]
    assert sent["control"] == batch.control() and len(sent["records"]) == batch.record_count
    with sessions() as s:
        assert "posting_batch.acknowledged" in s.scalars(select(audit.AuditEvent.action)).all()
        assert audit.verify(s).intact


def test_an_ack_with_other_totals_is_rejected(app, session, sessions, office, cis):
    _http(app, cis)
    world = build_day(session, office)
    batch = close(session, sessions, world.office.id)
    cis.mode = "miscount"
    assert deliver_batches(app).delivered == 1
    done = _batch(sessions, batch.reference)
    assert done.status == "rejected"
    assert "payment count: ours 5, CIS 6" in done.ack_detail
    with sessions() as s:
        assert [b.reference for b in posting_batch.needing_attention(s, world.office.id)] == [
            batch.reference
        ]


def test_a_reclosed_day_supersedes_its_unsent_batch(app, session, sessions, office, cis):
    _http(app, cis)
    world = build_day(session, office)
    first = close(session, sessions, world.office.id)
    finance = _staff(session, world.office, "finance")
    days.reopen_day(
        session,
        world.office.id,
        business_date(),
        finance_user_id=finance.id,
        supervisor_id=world.supervisor.id,
        reason="late check found",
        actor="fin",
    )
    service.create_payment(session, command(world, 2500, confirm_duplicate=True))
    session.commit()
    second = close(session, sessions, world.office.id)
    assert (second.version, second.reference.endswith("-v2")) == (2, True)
    assert second.payments_count == first.payments_count + 1
    assert _batch(sessions, first.reference).status == "superseded"
    assert deliver_batches(app).delivered == 2
    assert list(cis.batches) == [second.reference]  # the superseded one was not sent
    assert _message(sessions, first.reference).acknowledgment.startswith("superseded")
    assert _batch(sessions, second.reference).status == "acknowledged"
