"""Fixed-window rate limits kept in the database (table ``rate_limit_buckets``), so every
gunicorn worker and every server sharing the database counts the same hits.

Used for account lookups: a kiosk in the lobby must not be usable to list the city's
addresses, so lookups are limited per kiosk station (and per staff user at the counter).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kiosk.access import Principal
from kiosk.models import RateLimitBucket
from kiosk.security import rate_limit_hit
from payments.db import utcnow

LOOKUP_WINDOW = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    hits: int
    limit: int
    retry_after: int  # whole seconds until the window resets (0 when allowed)


def hit(session: Session, key: str, limit: int, window: dt.timedelta) -> Decision:
    """Count one hit for ``key``; refused once more than ``limit`` hits fall in the window."""
    hits = rate_limit_hit(session, key, window)
    if hits <= limit:
        return Decision(True, hits, limit, 0)
    bucket = session.get(RateLimitBucket, key, populate_existing=True)
    remaining = (bucket.expires_at - utcnow()).total_seconds() if bucket else 0
    return Decision(False, hits, limit, max(1, math.ceil(remaining)))


def lookup_key(principal: Principal) -> str:
    """Kiosks are limited per station, staff per user; anyone else shares one bucket."""
    if principal.is_kiosk and principal.station_id is not None:
        return f"lookup:station:{principal.station_id}"
    if principal.user_id is not None:
        return f"lookup:user:{principal.user_id}"
    return "lookup:anonymous"


def hit_lookup(session: Session, principal: Principal, per_minute: int) -> Decision:
    return hit(session, lookup_key(principal), per_minute, LOOKUP_WINDOW)
