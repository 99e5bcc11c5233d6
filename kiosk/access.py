"""Who may reach which route. Every view declares its audience with ``@access(...)``;
a route without a declaration is refused (deny by default).

Audiences:
  public      anyone, kiosk devices included (health check, static files, pairing)
  guest       any browser that is not a kiosk device (the staff login page)
  kiosk       a paired kiosk device: the customer flow only
  staff       any signed-in staff member
  cashier, supervisor, finance, admin   signed-in staff holding that role

A request that carries a kiosk device cookie is a kiosk and nothing else: staff sign-in is
ignored there, so a kiosk in the lobby can never reach the counter or finance pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

AUDIENCES = frozenset(
    {"public", "guest", "kiosk", "staff", "cashier", "supervisor", "finance", "admin"}
)
STAFF_ROLES = frozenset({"cashier", "supervisor", "finance", "admin"})

F = TypeVar("F", bound=Callable)


def access(*audiences: str) -> Callable[[F], F]:
    """Declare who may call a view."""
    unknown = set(audiences) - AUDIENCES
    if unknown or not audiences:
        raise ValueError(f"unknown audiences {sorted(unknown)}")

    def mark(view: F) -> F:
        view.access_audiences = frozenset(audiences)  # type: ignore[attr-defined]
        return view

    return mark


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a kiosk device, a staff member, or nobody in particular."""

    roles: frozenset[str] = field(default_factory=frozenset)
    user_id: int | None = None
    station_id: int | None = None
    is_kiosk: bool = False

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    def may(self, audiences: frozenset[str]) -> bool:
        if "public" in audiences:
            return True
        if self.is_kiosk:
            return "kiosk" in audiences
        if "guest" in audiences:
            return True
        if "staff" in audiences and self.is_staff:
            return True
        return bool(self.roles & audiences & STAFF_ROLES)


ANONYMOUS = Principal()
