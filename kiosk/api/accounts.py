"""Account lookup over JSON: ``GET /api/v1/accounts?q=`` and ``GET /api/v1/accounts/{number}``.

Kiosk devices see the masked view (initials, no e-mail); signed-in staff see names, phone and
e-mail unmasked, since they verify the customer in person. Every lookup counts against the
caller's rate limit (per kiosk station, per staff user), including refused queries.
"""

from __future__ import annotations

from flask import current_app, jsonify, request

from kiosk import accounts, db, ratelimit
from kiosk.access import access
from kiosk.api import bp
from kiosk.security import api_error, current_principal

_ERROR = {"$ref": "#/components/responses/Error"}
_LIMITED = {"$ref": "#/components/responses/RateLimited"}

OPENAPI_PATHS = {
    "/api/v1/accounts": {
        "get": {
            "operationId": "searchAccounts",
            "summary": "Find accounts by account number, bill scanline or service address",
            "description": (
                "Digits are an account number; 30 digits are a bill scanline (Luhn check "
                "digit); anything else is a service-address fragment such as '1234 bristol' or "
                "'bristol st'. Kiosk devices get masked names, staff get full names. "
                "Rate limited per kiosk station or staff user."
            ),
            "tags": ["accounts"],
            "security": [{"deviceCookie": []}, {"staffSession": []}],
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 80},
                    "example": "1234 n bristol st",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
                },
            ],
            "responses": {
                "200": {
                    "description": "Matching accounts (possibly none)",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/AccountSearch"}
                        }
                    },
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "429": _LIMITED,
            },
        }
    },
    "/api/v1/accounts/{number}": {
        "get": {
            "operationId": "getAccount",
            "summary": "One account with balance, due date, last payment and open bills",
            "tags": ["accounts"],
            "security": [{"deviceCookie": []}, {"staffSession": []}],
            "parameters": [
                {
                    "name": "number",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The account",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Account"}}
                    },
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
                "429": _LIMITED,
            },
        }
    },
}


def _rate_limited():
    """Count this lookup; a 429 response when the caller is over its limit, else None."""
    session = db.session()
    decision = ratelimit.hit_lookup(
        session, current_principal(), current_app.config["LOOKUP_RATE_PER_MINUTE"]
    )
    session.commit()
    if decision.allowed:
        return None
    response, status = api_error(
        429,
        "rate_limited",
        "Too many account lookups. Please wait a minute and try again.",
        retry_after=decision.retry_after,
    )
    response.headers["Retry-After"] = str(decision.retry_after)
    return response, status


def _masked() -> bool:
    return not current_principal().is_staff


@bp.route("/accounts")
@access("kiosk", "staff")
def search_accounts():
    limited = _rate_limited()
    if limited:
        return limited
    raw_limit = request.args.get("limit", "20")
    if not (raw_limit.isdigit() and 1 <= int(raw_limit) <= accounts.MAX_LIMIT):
        return api_error(
            400, "bad_limit", f"limit must be a whole number from 1 to {accounts.MAX_LIMIT}."
        )
    try:
        result = accounts.find_accounts(db.session(), request.args.get("q", ""), int(raw_limit))
    except accounts.AccountLookupError as exc:
        return api_error(400, exc.code, exc.message)
    masked = _masked()
    body = {
        "kind": result.kind,
        "accounts": [accounts.summary_view(s, masked=masked) for s in result.accounts],
        "truncated": result.truncated,
        "masked": masked,
        "bill": None,
    }
    if result.scanline is not None:
        body["bill"] = {
            "number": result.scanline.bill_number,
            "amount_cents": result.scanline.amount_cents,
        }
    return jsonify(body)


@bp.route("/accounts/<number>")
@access("kiosk", "staff")
def get_account(number: str):
    limited = _rate_limited()
    if limited:
        return limited
    try:
        detail = accounts.get_account(db.session(), number)
    except accounts.AccountLookupError as exc:
        return api_error(400, exc.code, exc.message)
    if detail is None:
        return api_error(404, "account_not_found", "No account has this number.")
    return jsonify(accounts.account_view(detail, masked=_masked()))
