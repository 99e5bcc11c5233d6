"""The OpenAPI 3.1 document of the JSON API, served at ``GET /api/v1/openapi.json``.

It is assembled, not written by hand in one place: every module in ``kiosk/api/`` may define
``OPENAPI_PATHS`` (path -> path item, full paths such as ``/api/v1/accounts``) and
``OPENAPI_COMPONENTS`` (section -> name -> object); they are merged with the shared
components below. A test checks that every API route is documented and nothing else is.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from typing import Any

from flask import jsonify

from kiosk.access import access
from kiosk.api import bp

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


_CENTS = {"type": "integer", "description": "an amount in US cents"}
_DATE = {"type": "string", "format": "date"}

COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "stable, machine-readable"},
                        "message": {"type": "string", "description": "for people"},
                    },
                    "additionalProperties": True,
                }
            },
        },
        "AccountSummary": {
            "type": "object",
            "required": ["number", "name", "service_address", "pickup_day"],
            "properties": {
                "number": {"type": "string"},
                "name": {"type": "string", "description": "initials only when masked"},
                "service_address": {"type": "string", "example": "1234 N BRISTOL ST"},
                "pickup_day": {"type": "string", "example": "tuesday"},
            },
        },
        "AccountSearch": {
            "type": "object",
            "required": ["kind", "accounts", "truncated", "masked", "bill"],
            "properties": {
                "kind": {"type": "string", "enum": ["number", "scanline", "address"]},
                "accounts": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/AccountSummary"},
                },
                "truncated": {"type": "boolean", "description": "more matches exist"},
                "masked": {"type": "boolean"},
                "bill": _nullable(
                    {
                        "type": "object",
                        "description": "the bill read from a scanline",
                        "properties": {"number": {"type": "string"}, "amount_cents": _CENTS},
                    }
                ),
            },
        },
        "Bill": {
            "type": "object",
            "required": ["number", "due_date", "amount_cents", "open_cents"],
            "properties": {
                "number": {"type": "string"},
                "due_date": _DATE,
                "amount_cents": _CENTS,
                "open_cents": {**_CENTS, "description": "what is still owed on this bill"},
            },
        },
        "Account": {
            "type": "object",
            "required": [
                "number",
                "name",
                "service_address",
                "pickup_day",
                "balance_cents",
                "past_due_cents",
                "due_date",
                "last_payment",
                "open_bills",
                "masked",
            ],
            "properties": {
                "number": {"type": "string"},
                "kind": {"type": "string", "enum": ["residential", "commercial"]},
                "name": {"type": "string", "description": "initials only when masked"},
                "service_address": {"type": "string"},
                "city": {"type": "string"},
                "zip_code": {"type": "string"},
                "pickup_day": {"type": "string"},
                "services": {"type": "array", "items": {"type": "string"}},
                "balance_cents": {**_CENTS, "description": "negative is a credit"},
                "past_due_cents": _CENTS,
                "due_date": _nullable(
                    {**_DATE, "description": "due date of the current open bill"}
                ),
                "last_payment": _nullable(
                    {
                        "type": "object",
                        "properties": {"amount_cents": _CENTS, "date": _nullable(_DATE)},
                    }
                ),
                "open_bills": {"type": "array", "items": {"$ref": "#/components/schemas/Bill"}},
                "masked": {"type": "boolean"},
                "phone": _nullable({"type": "string", "description": "last digits when masked"}),
                "email": _nullable({"type": "string", "description": "staff only"}),
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "database"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "database": {"type": "string", "enum": ["up", "down"]},
                "outbox": {
                    "type": "object",
                    "properties": {
                        "pending": {"type": "integer"},
                        "failing": {"type": "integer"},
                        "oldest_pending_at": _nullable({"type": "string", "format": "date-time"}),
                    },
                },
            },
        },
    },
    "responses": {
        "Error": {
            "description": "The request was refused; nothing was changed",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        "CounterLocked": {
            "description": (
                "The counter station this staff member is signed in at is locked (idle or "
                "Alt+L): unlock it with the PIN at /counter/unlock; nothing was changed"
            ),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        "RateLimited": {
            "description": "Too many requests; wait for Retry-After seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    },
    "securitySchemes": {
        "deviceCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "payoffice_device",
            "description": "a paired kiosk or counter station",
        },
        "staffSession": {
            "type": "apiKey",
            "in": "cookie",
            "name": "payoffice_session",
            "description": "a signed-in staff member",
        },
    },
}

OPENAPI_PATHS = {
    "/healthz": {
        "get": {
            "operationId": "health",
            "summary": "Database reachable and outbox backlog",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": {
                    "description": "Healthy",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    },
                },
                "503": {
                    "description": "The database is down",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    },
                },
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


def api_modules() -> list[str]:
    """Every module of the ``kiosk.api`` package, imported by name."""
    import kiosk.api as package

    return sorted(
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def build_document() -> dict[str, Any]:
    """Merge the paths and components every API module declares into one document."""
    paths: dict[str, dict[str, Any]] = {}
    components = copy.deepcopy(COMPONENTS)
    for name in api_modules():
        module = importlib.import_module(name)
        for path, item in getattr(module, "OPENAPI_PATHS", {}).items():
            merged = paths.setdefault(path, {})
            clash = set(merged) & set(item)
            if clash:
                raise ValueError(f"{name}: {path} {sorted(clash)} is documented twice")
            merged.update(copy.deepcopy(item))
        for section, entries in getattr(module, "OPENAPI_COMPONENTS", {}).items():
            target = components.setdefault(section, {})
            clash = set(target) & set(entries)
            if clash:
                raise ValueError(f"{name}: components.{section} {sorted(clash)} defined twice")
            target.update(copy.deepcopy(entries))
    for item in paths.values():
        for operation in item.values():
            if operation.get("security") != []:  # a signed-in cashier's call may meet the lock
                operation["responses"].setdefault(
                    "423", {"$ref": "#/components/responses/CounterLocked"}
                )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Santa Ana payment office API",
            "version": API_VERSION,
            "description": (
                "JSON API used by the kiosk pages, the counter and outside tools. Errors are "
                '{"error": {"code", "message"}}. Money is integer cents.'
            ),
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


@bp.route("/openapi.json")
@access("public")
def openapi_document():
    return jsonify(build_document())
