"""Stations (kiosks and counters): registration by an admin, one-time pairing codes, and the
long-lived device token a paired browser presents on every request."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.models import Office, Station, StationKind
from payments import audit
from payments.db import utcnow

PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed


class StationError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def add_station(
    session: Session,
    office: Office,
    name: str,
    kind: str,
    *,
    printer_url: str | None = None,
    reader_id: str | None = None,
    pairing_minutes: int = 30,
    actor: str = "admin",
) -> tuple[Station, str]:
    """Register a station and return it with a one-time pairing code (shown once)."""
    if kind not in {k.value for k in StationKind}:
        raise StationError("bad_kind", "A station is a 'kiosk' or a 'counter'.")
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise StationError("bad_name", "Give the station a name of up to 64 characters.")
    exists = session.scalar(
        select(Station.id).where(Station.office_id == office.id, Station.name == name)
    )
    if exists:
        raise StationError("exists", f"A station named {name!r} already exists in this office.")
    station = Station(
        office_id=office.id, name=name, kind=kind, printer_url=printer_url, reader_id=reader_id
    )
    session.add(station)
    session.flush()
    audit.record(
        session,
        "station.added",
        actor=actor,
        entity="station",
        entity_id=station.id,
        office_id=office.id,
        details={"name": name, "kind": kind},
    )
    code = issue_pairing_code(session, station, pairing_minutes, actor=actor)
    return station, code


def issue_pairing_code(session: Session, station: Station, minutes: int, *, actor: str) -> str:
    """A fresh code for (re)pairing; any device paired before stops working."""
    if not station.active:
        raise StationError("disabled", f"Station {station.name!r} is disabled.")
    if not 1 <= minutes <= 7 * 24 * 60:
        raise StationError("bad_minutes", "A pairing code is valid for 1 minute to 7 days.")
    raw = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))
    station.pairing_code_hash = _digest(raw)
    station.pairing_expires_at = utcnow() + dt.timedelta(minutes=minutes)
    was_paired = station.device_token_hash is not None
    station.device_token_hash = None
    audit.record(
        session,
        "station.pairing_code_issued",
        actor=actor,
        entity="station",
        entity_id=station.id,
        office_id=station.office_id,
        details={"unpaired_device": was_paired},
    )
    return f"{raw[:4]}-{raw[4:]}"


def pair(session: Session, code: str, *, source: str = "") -> tuple[Station, str]:
    """Exchange a valid pairing code for a device token (the code then stops working)."""
    normalized = _normalize_code(code)
    station = None
    if len(normalized) == 8:
        station = session.scalar(
            select(Station)
            .where(Station.pairing_code_hash == _digest(normalized))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if station is None or not station.active:
        audit.record(
            session,
            "station.pairing_failed",
            actor="device",
            details={"reason": "unknown code", "source": source},
        )
        raise StationError("invalid", "That pairing code is not valid.")
    if station.pairing_expires_at is None or station.pairing_expires_at < utcnow():
        audit.record(
            session,
            "station.pairing_failed",
            actor="device",
            entity="station",
            entity_id=station.id,
            office_id=station.office_id,
            details={"reason": "expired code", "source": source},
        )
        raise StationError("expired", "That pairing code has expired. Ask an admin for a new one.")
    token = secrets.token_urlsafe(32)
    station.device_token_hash = _digest(token)
    station.pairing_code_hash = None
    station.pairing_expires_at = None
    station.paired_at = utcnow()
    audit.record(
        session,
        "station.paired",
        actor="device",
        entity="station",
        entity_id=station.id,
        office_id=station.office_id,
        details={"source": source},
    )
    return station, token


def station_for_token(session: Session, token: str) -> Station | None:
    if not token or len(token) > 128:
        return None
    return session.scalar(
        select(Station).where(Station.device_token_hash == _digest(token), Station.active.is_(True))
    )


def find_station(session: Session, office: Office, name: str) -> Station:
    station = session.scalar(
        select(Station).where(Station.office_id == office.id, Station.name == (name or "").strip())
    )
    if station is None:
        raise StationError("unknown", f"No station named {name!r} in office {office.code}.")
    return station


def disable_station(session: Session, station: Station, *, actor: str) -> None:
    """Retire a station: its device cookie and any open pairing code stop working."""
    if not station.active:
        raise StationError("disabled", f"Station {station.name!r} is already disabled.")
    station.active = False
    station.device_token_hash = None
    station.pairing_code_hash = None
    station.pairing_expires_at = None
    audit.record(
        session,
        "station.disabled",
        actor=actor,
        entity="station",
        entity_id=station.id,
        office_id=station.office_id,
        details={"name": station.name},
    )
