"""Delivering the day's posting batch (``payments.posting_batch``) to the CIS, and reading
its acknowledgment. Formats are documented in docs/cis.md ("Daily posting batch").

- file adapter: ``CIS_EXCHANGE_DIR/outbound/postings-<office>-<date>.csv`` (header line,
  one line per record, control-total trailer lines), written atomically. The CIS answers with
  ``CIS_EXCHANGE_DIR/inbound/postings-<office>-<date>.ack``, read by ``payoffice cis
  read-acks`` (``read_acks``); a processed ack file moves to ``inbound/processed/``.
- http adapter: ``POST {CIS_ENDPOINT}/posting-batches`` with the batch as JSON; the answer
  carries the acknowledgment and the CIS's control totals.

The outbox handler is registered for the ``cis.posting_batch`` topic (see kiosk.worker).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import has_app_context
from sqlalchemy.orm import Session

from kiosk.cis.base import CisRefused, adapter_from_config
from kiosk.cis.http_adapter import HttpAdapter
from payments import posting_batch
from payments.outbox import DeliveryError, Handler, OutboxMessage
from payments.posting_batch import CIS_POSTING_BATCH_TOPIC, KINDS, BatchStatus

ACK_NAME = re.compile(r"^postings-([A-Za-z0-9]{1,8})-(\d{4}-\d{2}-\d{2})\.ack$")
MAX_ACK_BYTES = 64 * 1024


def file_name(office_code: str, business_date: str, suffix: str = "csv") -> str:
    return f"postings-{office_code}-{business_date}.{suffix}"


# -- the CSV posting file ----------------------------------------------------------------------


def _tenders(record: Mapping[str, Any]) -> str:
    parts = []
    for t in record.get("tenders") or []:
        part = f"{t['kind']}:{t['amount_cents']}"
        if t.get("reference"):
            part += f":{t['reference']}"
        parts.append(part)
    return ";".join(parts)


def _line(record: Mapping[str, Any]) -> list[Any]:
    kind = record["record_type"]
    if kind == "payment":
        payment_id, at, how = record["record_id"], record["completed_at"], _tenders(record)
    elif kind == "payment_void":
        payment_id, at, how = record["payment_id"], record["voided_at"], "all"
    else:
        payment_id, at, how = record["payment_id"], record["created_at"], record["kind"]
    return [
        "D",
        kind,
        record["record_id"],
        payment_id,
        record.get("account_number") or "",
        record.get("receipt_number") or "",
        record["amount_cents"],
        record.get("fee_cents", 0) if kind == "payment" else 0,
        how,
        record.get("channel") or "",
        at or "",
    ]


def render_csv(batch: Mapping[str, Any]) -> str:
    """The posting file: ``H`` header, ``D`` records, ``T`` control-total trailer lines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = batch["header"]
    writer.writerow(
        [
            "H",
            head["format"],
            head["schema_version"],
            head["office_code"],
            head["business_date"],
            head["reference"],
            head["created_at"],
        ]
    )
    for record in batch["records"]:
        writer.writerow(_line(record))
    for kind in KINDS:
        totals = batch["control"][kind]
        writer.writerow(["T", kind, totals["count"], totals["amount_cents"]])
    writer.writerow(["T", "net", batch["net"]["count"], batch["net"]["amount_cents"]])
    return out.getvalue()


def _write_atomically(folder: Path, name: str, body: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DeliveryError(f"cannot write {folder / name}: {exc}") from exc


# -- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    delivered_as: str
    ack_reference: str | None = None
    control: object = None  # the CIS's control totals, when it sent them
    accepted: bool = True
    detail: str | None = None


def _send_file(adapter: Any, batch: dict[str, Any]) -> Sent:
    head = batch["header"]
    name = file_name(head["office_code"], head["business_date"])
    _write_atomically(Path(adapter.exchange_dir) / "outbound", name, render_csv(batch))
    return Sent(delivered_as=name)


def _send_http(adapter: HttpAdapter, batch: dict[str, Any]) -> Sent:
    url = f"{adapter.endpoint}/posting-batches"
    headers = adapter._headers() | {
        "Content-Type": "application/json",
        "Idempotency-Key": batch["header"]["reference"],
    }
    body = json.dumps(batch, sort_keys=True, ensure_ascii=False).encode("utf-8")
    response = adapter._send("POST", url, data=body, headers=headers)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return Sent(delivered_as=url, ack_reference=f"HTTP {response.status_code}")
    reference = next(
        (str(data[k]) for k in ("confirmation", "ack", "id") if data.get(k) not in (None, "")),
        None,
    )
    status = str(data.get("status") or "accepted")
    return Sent(
        delivered_as=url,
        ack_reference=reference,
        control=data.get("control"),
        accepted=status != "rejected",
        detail=str(data.get("message") or "")[:500] or None,
    )


def deliver(adapter: Any, sessions, message: OutboxMessage) -> str:
    """Send one batch; record it as sent, and its acknowledgment when the CIS answers with
    one. Idempotent by the batch reference."""
    data = message.data
    with sessions() as session:
        batch = session.get(posting_batch.PostingBatch, data["batch_id"])
        if batch is None:
            raise CisRefused(f"posting batch {data['batch_id']} does not exist")
        if batch.status == BatchStatus.SUPERSEDED:
            return f"superseded: {batch.reference} not sent"
        try:
            body = posting_batch.contents(session, batch)
        except posting_batch.BatchError as exc:
            raise CisRefused(str(exc)) from exc
    if isinstance(adapter, HttpAdapter):
        sent = _send_http(adapter, body)
    elif hasattr(adapter, "exchange_dir"):
        sent = _send_file(adapter, body)
    else:
        raise CisRefused(f"the {adapter.name!r} CIS adapter cannot send posting batches")
    with sessions.begin() as session:
        batch = session.get(posting_batch.PostingBatch, data["batch_id"])
        posting_batch.mark_sent(
            session, batch, adapter=adapter.name, delivered_as=sent.delivered_as
        )
        if sent.control is not None or not sent.accepted:
            posting_batch.record_ack(
                session,
                batch,
                reference=sent.ack_reference,
                control=sent.control,
                accepted=sent.accepted,
                detail=sent.detail,
                actor=f"cis:{adapter.name}",
            )
        elif sent.ack_reference:
            batch.ack_reference = sent.ack_reference[:255]
        status = batch.status
    return f"{status}: {sent.delivered_as}" + (
        f" ({sent.ack_reference})" if sent.ack_reference else ""
    )


def make_handler(config: Mapping[str, Any]) -> Handler:
    """The outbox handler for ``cis.posting_batch`` (runs in the Flask app context)."""
    adapter = adapter_from_config(config)

    def handle(message: OutboxMessage) -> str:
        from kiosk import db

        if not has_app_context():
            raise DeliveryError("posting batches are delivered inside the application context")
        return deliver(adapter, db.database().sessions, message)

    return handle


# -- acknowledgment files (file adapter) -------------------------------------------------------


@dataclass(frozen=True)
class AckResult:
    file: str
    reference: str | None
    status: str  # acknowledged | rejected | error
    message: str
    path: Path | None = None  # the ack file, to archive once the transaction commits


class AckFileError(ValueError):
    pass


def parse_ack(text: str) -> dict[str, Any]:
    """Read an ack file: ``A,<batch reference>,<CIS ack reference>,accepted|rejected[,msg]``
    then ``T,<record type>,<count>,<amount_cents>`` per record type."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows or rows[0][0] != "A" or len(rows[0]) < 4:
        raise AckFileError("the first line must be A,<batch>,<ack reference>,accepted|rejected")
    head = rows[0]
    if head[3] not in ("accepted", "rejected"):
        raise AckFileError(f"unknown ack status {head[3][:20]!r}")
    control: dict[str, dict[str, int]] = {}
    for row in rows[1:]:
        if row[0] != "T" or len(row) != 4 or row[1] not in KINDS:
            raise AckFileError(f"bad control line {','.join(row)[:80]!r}")
        if not (row[2].isdigit() and row[3].lstrip("-").isdigit()):
            raise AckFileError(f"control totals must be whole numbers: {','.join(row)[:80]!r}")
        control[row[1]] = {"count": int(row[2]), "amount_cents": int(row[3])}
    return {
        "reference": head[1].strip(),
        "ack_reference": head[2].strip(),
        "accepted": head[3] == "accepted",
        "message": ",".join(head[4:]).strip() or None,
        "control": control,
    }


def read_acks(session: Session, exchange_dir: str | os.PathLike, *, actor: str) -> list[AckResult]:
    """Record every ``inbound/postings-*.ack`` file in the caller's transaction. Files that
    cannot be read stay where they are and are reported; after the commit, ``archive`` moves
    the recorded ones to ``inbound/processed/``."""
    inbound = Path(exchange_dir) / "inbound"
    results: list[AckResult] = []
    if not inbound.is_dir():
        return results
    for path in sorted(inbound.glob("postings-*.ack")):
        if not ACK_NAME.match(path.name):
            results.append(AckResult(path.name, None, "error", "not a posting ack file name"))
            continue
        try:
            raw = path.read_bytes()[: MAX_ACK_BYTES + 1]
            if len(raw) > MAX_ACK_BYTES:
                raise AckFileError("the file is too large for an ack")
            ack = parse_ack(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, AckFileError) as exc:
            results.append(AckResult(path.name, None, "error", str(exc)))
            continue
        batch = posting_batch.get_by_reference(session, ack["reference"])
        if batch is None:
            results.append(
                AckResult(path.name, ack["reference"], "error", "no posting batch by that name")
            )
            continue
        posting_batch.record_ack(
            session,
            batch,
            reference=ack["ack_reference"],
            control=ack["control"],
            accepted=ack["accepted"],
            detail=ack["message"],
            actor=actor,
        )
        results.append(
            AckResult(
                path.name, batch.reference, batch.status, batch.ack_detail or "totals match", path
            )
        )
    return results


def archive(results: list[AckResult]) -> None:
    """Move recorded ack files to ``inbound/processed/`` (after the commit)."""
    for result in results:
        if result.path is None or result.status == "error":
            continue
        done = result.path.parent / "processed"
        done.mkdir(exist_ok=True)
        result.path.replace(done / f"{result.path.stem}.{result.reference}.ack")


def register() -> None:
    from kiosk.worker import register_handler

    register_handler(CIS_POSTING_BATCH_TOPIC, make_handler)


register()
