"""Staff accounts: password and PIN hashing (argon2), sign-in with lockout."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.access import STAFF_ROLES
from kiosk.models import StaffUser
from payments import audit
from payments.db import utcnow

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._]{0,63}")
MIN_PASSWORD, MAX_PASSWORD = 10, 256  # the sign-in form accepts up to MAX_PASSWORD

_hasher = PasswordHasher()
# A hash to verify against when the username is unknown, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class StaffError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def check_secret(stored_hash: str | None, secret: str) -> bool:
    try:
        return bool(stored_hash) and _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    username: str,
    full_name: str,
    password: str,
    roles: list[str] | tuple[str, ...],
    *,
    pin: str | None = None,
    office_id: int | None = None,
    actor: str = "system",
) -> StaffUser:
    username = (username or "").strip().lower()
    if not _USERNAME.fullmatch(username):
        raise StaffError(
            "bad_username",
            "Usernames have 1 to 64 letters (a-z), digits, dots and underscores.",
        )
    full_name = (full_name or "").strip()
    if not full_name or len(full_name) > 120:
        raise StaffError("bad_name", "Give the full name, up to 120 characters.")
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise StaffError(
            "weak_password",
            f"Passwords have {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
        )
    unknown = set(roles) - STAFF_ROLES
    if unknown or not roles:
        raise StaffError("bad_roles", f"Roles must be among {', '.join(sorted(STAFF_ROLES))}.")
    if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise StaffError("bad_pin", "A PIN has 4 to 8 digits.")
    if session.scalar(select(func.count()).where(StaffUser.username == username)):
        raise StaffError("exists", f"User {username} already exists.")
    user = StaffUser(
        username=username,
        full_name=full_name,
        password_hash=hash_secret(password),
        pin_hash=hash_secret(pin) if pin else None,
        roles=",".join(sorted(set(roles))),
        office_id=office_id,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "staff.created",
        actor=actor,
        entity="staff_user",
        entity_id=user.id,
        details={"username": username, "roles": user.roles},
    )
    return user


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)


def authenticate(
    session: Session,
    username: str,
    password: str,
    policy: LoginPolicy,
    *,
    source: str = "",
    purpose: str = "login",
) -> StaffUser:
    """Check a username and password. Failures are counted; too many lock the account.

    Raises ``StaffError`` with code ``invalid`` or ``locked``; audits every attempt as
    ``<purpose>.failed`` / ``.refused`` / ``.succeeded`` (``override`` for a supervisor's
    credentials typed on another's screen: same count, no sign-in time).
    """
    username = (username or "").strip().lower()
    # Row lock: concurrent wrong passwords must all be counted (PostgreSQL; SQLite writers
    # are serialized by BEGIN IMMEDIATE already).
    user = session.scalar(
        select(StaffUser)
        .where(StaffUser.username == username)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if user is None or not user.active:
        check_secret(_DUMMY_HASH, password or "")
        # People type their password into the username box now and then: only a name that
        # could be a username goes into the permanent log.
        audit.record(
            session,
            f"{purpose}.failed",
            actor=username if _USERNAME.fullmatch(username) else "(not a username)",
            entity="staff_user" if user else None,
            entity_id=user.id if user else None,
            details={"reason": "inactive user" if user else "unknown user", "source": source},
        )
        raise StaffError("invalid", "Wrong username or password.")
    if user.locked_until and user.locked_until > now:
        audit.record(
            session,
            f"{purpose}.refused",
            actor=user.username,
            entity="staff_user",
            entity_id=user.id,
            details={"reason": "locked", "source": source},
        )
        raise StaffError("locked", "Too many failed attempts. Try again later or ask an admin.")
    if not check_secret(user.password_hash, password or ""):
        user.failed_logins += 1
        details = {"failures": user.failed_logins, "source": source}
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lockout
            user.failed_logins = 0
            details["locked_until"] = user.locked_until.isoformat()
        audit.record(
            session,
            f"{purpose}.failed",
            actor=user.username,
            entity="staff_user",
            entity_id=user.id,
            details=details,
        )
        raise StaffError("invalid", "Wrong username or password.")
    user.failed_logins = 0
    user.locked_until = None
    if purpose == "login":
        user.last_login_at = now
    audit.record(
        session,
        f"{purpose}.succeeded",
        actor=user.username,
        entity="staff_user",
        entity_id=user.id,
        details={"source": source},
    )
    return user


def _active_admins(session: Session) -> int:
    users = session.scalars(select(StaffUser).where(StaffUser.active.is_(True))).all()
    return sum(1 for u in users if "admin" in u.role_set)


def disable_user(session: Session, user: StaffUser, *, actor: str, actor_id: int | None) -> None:
    """Stop an account from signing in; its open sessions end on their next request."""
    if user.id == actor_id:
        raise StaffError("self", "You cannot disable your own account.")
    if not user.active:
        raise StaffError("inactive", f"{user.username} is already disabled.")
    if "admin" in user.role_set and _active_admins(session) <= 1:
        raise StaffError("last_admin", "This is the last active admin; add another first.")
    user.active = False
    audit.record(
        session,
        "staff.disabled",
        actor=actor,
        entity="staff_user",
        entity_id=user.id,
        details={"username": user.username},
    )


def unlock_user(session: Session, user: StaffUser, *, actor: str) -> None:
    """Lift a sign-in lockout and reset the failure count."""
    user.locked_until = None
    user.failed_logins = 0
    audit.record(
        session,
        "staff.unlocked",
        actor=actor,
        entity="staff_user",
        entity_id=user.id,
        details={"username": user.username},
    )
