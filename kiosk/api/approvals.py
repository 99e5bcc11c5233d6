"""Who approves an API request that needs a supervisor (no routes here).

Typed credentials in the body (``"supervisor": {"username", "password"}``) are checked by
``kiosk.override.verify_supervisor``; without them, a signed-in supervisor approves, unless
they are the one the approval is about (``self_id``).
"""

from __future__ import annotations

from flask import current_app

from kiosk import override
from kiosk.api.common import BadRequest
from kiosk.security import client_address, current_principal
from payments.states import PaymentError


class SupervisorRejected(PaymentError):
    status = 403


def supervisor_id(
    session,
    body: dict,
    *,
    action: str,
    self_id: int | None,
    entity: str | None = None,
    entity_id: object = None,
) -> int | None:
    """The approving supervisor's id, or None when nobody approves. Wrong credentials raise
    ``SupervisorRejected`` after committing the failure count and its audit entry."""
    creds = body.get("supervisor")
    principal = current_principal()
    if creds is None:
        if "supervisor" in principal.roles and (self_id is None or self_id != principal.user_id):
            return principal.user_id
        return None
    if not isinstance(creds, dict):
        raise BadRequest("bad_supervisor", "supervisor must have a username and a password.")
    try:
        user = override.verify_supervisor(
            session,
            creds.get("username"),
            creds.get("password"),
            cashier_id=principal.user_id,
            action=action,
            policy=override.policy_from(current_app.config),
            source=client_address(),
            entity=entity,
            entity_id=entity_id,
        )
    except override.OverrideError as exc:
        if exc.status == 400:
            raise BadRequest(
                "bad_supervisor", "supervisor must have a username and a password."
            ) from exc
        session.commit()  # keep the failure count and its audit entry
        raise SupervisorRejected(exc.code, exc.message) from exc
    return user.id
