"""Counter sign-ins: one cashier per counter station, the PIN lock after a break or idle time.

A ``CounterSignIn`` row lives from a cashier's first counter request after signing in until
they sign out (or a supervisor releases the station). While it is active nobody else can work
at that station. Its lock state is kept here, in the database, not in the browser's cookie,
so an old cookie cannot be replayed to skip the lock. Functions work in the caller's
transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Index, Integer, String, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from kiosk.models import StaffUser, Station
from kiosk.staff import check_secret, hash_secret
from payments import audit
from payments.db import Base, UTCDateTime, utcnow

PIN_MAX_ATTEMPTS = 5  # wrong PINs in a row before the cashier must sign in with the password
TOUCH_EVERY = dt.timedelta(seconds=10)  # activity is written at most this often


class CounterSignIn(Base):
    """A cashier's sign-in at a counter (station_id is None on an unpaired browser)."""

    __tablename__ = "counter_sign_ins"
    __table_args__ = (
        # One active sign-in per station: the database refuses a second one even when two
        # cashiers sign in at the same moment.
        Index(
            "ix_counter_sign_ins_one_per_station",
            "station_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(32))

    @property
    def active(self) -> bool:
        return self.ended_at is None


class SignInError(ValueError):
    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def holder(session: Session, station_id: int | None) -> CounterSignIn | None:
    """The active sign-in holding a station, if any."""
    if station_id is None:
        return None
    return session.scalars(
        select(CounterSignIn).where(
            CounterSignIn.station_id == station_id, CounterSignIn.ended_at.is_(None)
        )
    ).first()


def holder_name(session: Session, sign_in: CounterSignIn) -> str:
    user = session.get(StaffUser, sign_in.staff_user_id)
    return user.full_name if user is not None else "another cashier"


def station_name(session: Session, station_id: int | None) -> str:
    station = session.get(Station, station_id) if station_id is not None else None
    return station.name if station is not None else "This station"


def start(
    session: Session, user: StaffUser, station_id: int | None, *, now: dt.datetime | None = None
) -> CounterSignIn:
    """Begin work at a station. Refused (``station_held``) while another person holds it;
    the same person signing in again replaces their earlier sign-in there."""
    now = now or utcnow()
    current = holder(session, station_id)
    if current is not None:
        if current.staff_user_id != user.id:
            name = holder_name(session, current)
            audit.record(
                session,
                "counter.sign_in_refused",
                actor=user.username,
                entity="station",
                entity_id=station_id,
                details={"held_by": name},
            )
            raise SignInError(
                "station_held",
                f"{station_name(session, station_id)} is in use by {name}. Ask them to sign "
                "out, or ask a supervisor to release the station.",
                held_by=name,
            )
        _end(current, "replaced", now)
        session.flush()
    sign_in = CounterSignIn(
        staff_user_id=user.id, station_id=station_id, started_at=now, last_activity_at=now
    )
    try:
        with session.begin_nested():
            session.add(sign_in)
    except IntegrityError:
        # Two first requests of one browser raced (the partial unique index held): the
        # other request's sign-in stands; use it if it is this person's, else refuse.
        current = holder(session, station_id)
        if current is not None and current.staff_user_id == user.id:
            return current
        raise SignInError(
            "station_held",
            f"{station_name(session, station_id)} was just taken by another cashier.",
        ) from None
    audit.record(
        session,
        "counter.signed_in",
        actor=user.username,
        entity="station",
        entity_id=station_id,
        details={"sign_in": sign_in.id},
    )
    return sign_in


def _end(sign_in: CounterSignIn, reason: str, now: dt.datetime) -> None:
    sign_in.ended_at = now
    sign_in.ended_reason = reason


def end(
    session: Session,
    sign_in: CounterSignIn,
    *,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> None:
    """Free the station (sign-out, or a supervisor's release)."""
    if not sign_in.active:
        return
    _end(sign_in, reason, now or utcnow())
    audit.record(
        session,
        "counter.signed_out" if reason == "signed_out" else f"counter.{reason}",
        actor=actor,
        entity="station",
        entity_id=sign_in.station_id,
        details={"sign_in": sign_in.id, "staff_user_id": sign_in.staff_user_id},
    )


@dataclass(frozen=True)
class HeldStation:
    """One station of an office held by an active sign-in, for the supervisor's list."""

    sign_in_id: int
    station_id: int
    station: str
    staff_user_id: int
    cashier: str
    started_at: dt.datetime
    last_activity_at: dt.datetime
    locked_at: dt.datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


def active_sign_ins(session: Session, office_id: int) -> list[HeldStation]:
    """The office's stations held by an active sign-in, by station name (unpaired browsers
    hold no station and are not listed)."""
    rows = session.execute(
        select(CounterSignIn, Station.name, StaffUser.full_name)
        .join(Station, Station.id == CounterSignIn.station_id)
        .join(StaffUser, StaffUser.id == CounterSignIn.staff_user_id)
        .where(Station.office_id == office_id, CounterSignIn.ended_at.is_(None))
        .order_by(Station.name, CounterSignIn.id)
    ).all()
    return [_held(row, station, cashier) for row, station, cashier in rows]


def _held(sign_in: CounterSignIn, station: str, cashier: str) -> HeldStation:
    return HeldStation(
        sign_in_id=sign_in.id,
        station_id=sign_in.station_id,
        station=station,
        staff_user_id=sign_in.staff_user_id,
        cashier=cashier,
        started_at=sign_in.started_at,
        last_activity_at=sign_in.last_activity_at,
        locked_at=sign_in.locked_at,
    )


def release(
    session: Session,
    sign_in_id: int,
    *,
    office_id: int,
    supervisor: StaffUser,
    own_sign_in_id: int | None = None,
    now: dt.datetime | None = None,
) -> HeldStation:
    """A signed-in supervisor frees a station of their office from their own screen: the
    sign-in ends (reason ``released``, audited with the supervisor as actor). Refused with
    a ``SignInError`` (nothing changed) when the sign-in is not at a station of this office,
    has ended already, or is the supervisor's own current sign-in."""
    sign_in = None
    if 0 < sign_in_id < 2**31:  # beyond a PostgreSQL integer: no such row (not an error)
        sign_in = session.get(
            CounterSignIn, sign_in_id, with_for_update=True, populate_existing=True
        )
    station = session.get(Station, sign_in.station_id) if sign_in and sign_in.station_id else None
    if sign_in is None or station is None or station.office_id != office_id:
        raise SignInError("not_found", "That sign-in is not at a station of your office.")
    if sign_in_id == own_sign_in_id:
        raise SignInError(
            "own_sign_in", "That is your own sign-in at this station: sign out to free it."
        )
    if not sign_in.active:
        raise SignInError(
            "already_ended",
            f"{holder_name(session, sign_in)}'s sign-in at {station.name} has ended already: "
            "nothing was changed.",
        )
    held = _held(sign_in, station.name, holder_name(session, sign_in))
    end(session, sign_in, reason="released", actor=supervisor.username, now=now)
    return held


def lock(
    session: Session,
    sign_in: CounterSignIn,
    *,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> None:
    if sign_in.locked_at is not None:
        return
    sign_in.locked_at = now or utcnow()
    audit.record(
        session,
        "counter.locked",
        actor=actor,
        entity="station",
        entity_id=sign_in.station_id,
        details={"sign_in": sign_in.id, "reason": reason},
    )


def touch(
    session: Session,
    sign_in: CounterSignIn,
    *,
    lock_seconds: int,
    actor: str,
    activity: bool,
    now: dt.datetime | None = None,
) -> bool:
    """Note a request; lock when it comes after ``lock_seconds`` of quiet (0: never).
    Returns True when the sign-in is locked."""
    now = now or utcnow()
    if sign_in.locked_at is not None:
        return True
    idle = now - sign_in.last_activity_at
    if lock_seconds > 0 and idle > dt.timedelta(seconds=lock_seconds):
        lock(session, sign_in, reason="idle", actor=actor, now=now)
        return True
    if activity and idle >= TOUCH_EVERY:
        sign_in.last_activity_at = now
    return False


def unlock(session: Session, sign_in: CounterSignIn, user: StaffUser, pin: object) -> CounterSignIn:
    """Unlock with the cashier's PIN. Wrong PINs are counted; after ``PIN_MAX_ATTEMPTS`` the
    error's code is ``pin_attempts`` and the cashier must sign in again with the password."""
    if not user.pin_hash:
        raise SignInError("no_pin", "You have no PIN yet: sign in again with your password.")
    pin = pin.strip() if isinstance(pin, str) else ""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8) or not check_secret(
        user.pin_hash, pin
    ):
        sign_in.pin_failures += 1
        left = PIN_MAX_ATTEMPTS - sign_in.pin_failures
        audit.record(
            session,
            "counter.unlock_failed",
            actor=user.username,
            entity="station",
            entity_id=sign_in.station_id,
            details={"failures": sign_in.pin_failures},
        )
        if left <= 0:
            raise SignInError(
                "pin_attempts", "Too many wrong PINs. Sign in again with your password."
            )
        raise SignInError("wrong_pin", f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left.")
    sign_in.locked_at = None
    sign_in.pin_failures = 0
    sign_in.last_activity_at = utcnow()
    audit.record(
        session,
        "counter.unlocked",
        actor=user.username,
        entity="station",
        entity_id=sign_in.station_id,
        details={"sign_in": sign_in.id},
    )
    return sign_in


def set_pin(
    session: Session, user: StaffUser, password: object, pin: object, confirm: object
) -> None:
    """A cashier sets their own 4-8 digit PIN, confirming with their password."""
    if not isinstance(password, str) or not check_secret(user.password_hash, password):
        raise SignInError("wrong_password", "Your password is not right. The PIN is unchanged.")
    pin = pin.strip() if isinstance(pin, str) else ""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise SignInError("bad_pin", "A PIN has 4 to 8 digits (0-9), nothing else.")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise SignInError("weak_pin", "Choose a PIN that is not all one digit or a run like 1234.")
    if confirm != pin:
        raise SignInError("pin_mismatch", "The two PINs differ. Type the same PIN twice.")
    user.pin_hash = hash_secret(pin)
    audit.record(
        session, "staff.pin_set", actor=user.username, entity="staff_user", entity_id=user.id
    )
