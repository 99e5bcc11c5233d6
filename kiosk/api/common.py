"""Small helpers shared by the kiosk-layer API modules."""

from __future__ import annotations

from kiosk import db
from kiosk.models import StaffUser, Station
from kiosk.security import current_principal


def caller_office_id() -> int | None:
    """The office of the calling station (kiosk) or signed-in staff member."""
    principal = current_principal()
    session = db.session()
    if principal.station_id is not None:
        station = session.get(Station, principal.station_id)
        if station is not None:
            return station.office_id
    if principal.user_id is not None:
        user = session.get(StaffUser, principal.user_id)
        if user is not None:
            return user.office_id
    return None
