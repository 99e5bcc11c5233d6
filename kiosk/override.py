"""Supervisor override: a supervisor types their own credentials on a cashier's screen to
approve a void, a refund, an over-limit payment, a drawer's over/short or a reopen.

The one rule, used by the counter screens and the JSON API alike: an active user with the
supervisor role, the right password (a wrong one counts toward the sign-in lockout, like a
failed sign-in), and not the cashier asking for approval. Every attempt is audited with both
names. Functions work in the caller's transaction and never commit; after an
``OverrideError`` the caller commits anyway, so failure counts and audit entries stay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from kiosk.models import StaffUser
from kiosk.staff import MAX_PASSWORD, LoginPolicy, StaffError, authenticate
from payments import audit

MAX_USERNAME = 64
# Refusals about the typed supervisor credentials (a screen puts the cursor back there).
SUPERVISOR_CODES = frozenset(
    {
        "supervisor_required",
        "bad_supervisor",
        "supervisor_rejected",
        "not_a_supervisor",
        "same_person",
    }
)


class OverrideError(ValueError):
    """A refused approval: ``code`` is stable, ``message`` is for the screen."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def policy_from(config: Mapping[str, Any]) -> LoginPolicy:
    """The sign-in lockout policy from the app's settings."""
    return LoginPolicy(
        max_failures=int(config.get("LOGIN_MAX_FAILURES", 5)),
        lockout=dt.timedelta(minutes=int(config.get("LOGIN_LOCKOUT_MINUTES", 15))),
    )


def check_fields(username: object, password: object) -> tuple[str, str]:
    """The typed username and password, or ``OverrideError`` (400) for missing or odd input."""
    if not isinstance(username, str) or not isinstance(password, str):
        raise OverrideError(
            "bad_supervisor", "A supervisor must type their username and password.", 400
        )
    username = username.strip()
    if not username or not password:
        raise OverrideError(
            "supervisor_required", "A supervisor must type their username and password.", 400
        )
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        raise OverrideError("bad_supervisor", "Wrong supervisor username or password.", 400)
    return username, password


def verify_supervisor(
    session: Session,
    username: object,
    password: object,
    *,
    cashier_id: int | None,
    action: str,
    policy: LoginPolicy | None = None,
    source: str = "",
    entity: str | None = None,
    entity_id: object = None,
) -> StaffUser:
    """The approving supervisor, or ``OverrideError``. ``cashier_id`` is the staff member
    asking for approval (who may not approve themselves); ``action`` names what is approved
    (``void``, ``refund``, ``drawer.approve``, ...)."""
    username, password = check_fields(username, password)
    cashier = session.get(StaffUser, cashier_id) if cashier_id is not None else None
    cashier_name = cashier.username if cashier is not None else None
    details = {"action": action, "cashier": cashier_name, "source": source}
    try:
        user = authenticate(
            session, username, password, policy or LoginPolicy(), source=source, purpose="override"
        )
    except StaffError as exc:
        audit.record(
            session,
            "override.refused",
            actor=cashier_name or "(unknown)",
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            details={**details, "supervisor": username[:MAX_USERNAME], "reason": exc.code},
        )
        raise OverrideError(
            "supervisor_rejected", f"Supervisor approval refused. {exc.message}"
        ) from exc
    reason = None
    if "supervisor" not in user.role_set:
        reason, message = "not_a_supervisor", f"{user.full_name} is not a supervisor."
    elif cashier_id is not None and user.id == cashier_id:
        reason, message = "same_person", "Another supervisor must approve your own work."
    if reason is not None:
        audit.record(
            session,
            "override.refused",
            actor=cashier_name or "(unknown)",
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            details={**details, "supervisor": user.username, "reason": reason},
        )
        raise OverrideError(reason, message)
    audit.record(
        session,
        "override.approved",
        actor=user.username,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        details={**details, "supervisor": user.username},
    )
    return user
