"""The day's cash drawers for the finance pages and the daily report: station, cashier,
status and the expected, counted and over/short cash (None until the drawer is closed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.models import StaffUser, Station
from payments.models import DrawerSession


@dataclass(frozen=True)
class DrawerLine:
    station: str
    cashier: str
    status: str  # open, closed (payments.models.DrawerStatus)
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    expected_cents: int | None
    counted_cents: int | None
    over_short_cents: int | None


def day_drawer_rows(session: Session, office_id: int, day: dt.date) -> list:
    """(DrawerSession, station name, cashier name) rows, open drawers first."""
    return session.execute(
        select(DrawerSession, Station.name, StaffUser.full_name)
        .join(Station, Station.id == DrawerSession.station_id)
        .join(StaffUser, StaffUser.id == DrawerSession.cashier_id)
        .where(DrawerSession.office_id == office_id, DrawerSession.business_date == day)
        .order_by(DrawerSession.status.desc(), Station.name, DrawerSession.opened_at)
    ).all()


def day_drawers(session: Session, office_id: int, day: dt.date) -> list[DrawerLine]:
    return [
        DrawerLine(
            station,
            cashier,
            d.status,
            d.opened_at,
            d.closed_at,
            d.expected_cents,
            d.counted_cents,
            d.over_short_cents,
        )
        for d, station, cashier in day_drawer_rows(session, office_id, day)
    ]
