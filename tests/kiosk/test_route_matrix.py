"""Every route, every method, every kind of caller: who gets in is decided here, explicitly.

A new route fails ``test_every_route_has_a_decision`` until it is added to EXPECTED below, so
nobody can add a page or an API call without deciding who may use it.

Allowed = the access check let the request through (any answer but 401/403 or a redirect to
sign in). Denied = 401 JSON for an anonymous API call, a redirect to /login for an anonymous
page, 403 for everyone else. Mutating requests are sent without a CSRF token, so an allowed
caller must get the CSRF refusal (400) and nothing runs; that also proves every form and API
call is CSRF-protected (webhooks, signed by Stripe, are the listed exception).
"""

from __future__ import annotations

import pytest
from flask import url_for

from kiosk.security import is_api_request
from tests import factories
from tests.conftest import login
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)

ANONYMOUS, KIOSK = "anonymous", "kiosk"
STAFF_ROLES = ("cashier", "supervisor", "finance", "admin")
PRINCIPALS = (ANONYMOUS, KIOSK, *STAFF_ROLES)

EVERYONE = frozenset(PRINCIPALS)
GUEST = EVERYONE - {KIOSK}  # any browser that is not a kiosk device
KIOSK_ONLY = frozenset({KIOSK})
COUNTER = frozenset({"cashier", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
FINANCE = frozenset({"finance"})
ADMIN = frozenset({"admin"})
STAFF = frozenset(STAFF_ROLES)
KIOSK_AND_STAFF = KIOSK_ONLY | STAFF
KIOSK_AND_COUNTER = KIOSK_ONLY | COUNTER

# endpoint -> who may use it (all of its methods).
EXPECTED: dict[str, frozenset[str]] = {
    # public: health check, static files, pairing, the start page (redirects by caller)
    "static": EVERYONE,
    "home.index": EVERYONE,
    "health.healthz": EVERYONE,
    "auth.pair": EVERYONE,
    "api.openapi_document": EVERYONE,
    "webhooks.stripe_webhook": EVERYONE,  # authenticated by Stripe's signature instead
    # staff sign-in
    "auth.login": GUEST,
    "auth.logout": STAFF,
    # the customer flow: kiosk devices only
    "customer.start": KIOSK_ONLY,
    "customer.account": KIOSK_ONLY,
    "customer.other_amount": KIOSK_ONLY,
    "customer.begin": KIOSK_ONLY,
    "customer.display": KIOSK_ONLY,
    "customer.end": KIOSK_ONLY,
    "customer.find": KIOSK_ONLY,
    "customer.find_address": KIOSK_ONLY,
    "customer.find_choose": KIOSK_ONLY,
    "customer.not_found": KIOSK_ONLY,
    "customer.find_number": KIOSK_ONLY,
    "customer.find_results": KIOSK_ONLY,
    "customer.find_street": KIOSK_ONLY,
    "customer.language": KIOSK_ONLY,
    "customer.menu": KIOSK_ONLY,
    "customer.paid": KIOSK_ONLY,
    "customer.email_receipt": KIOSK_ONLY,
    "customer.pay": KIOSK_ONLY,
    "customer.pay_cancel": KIOSK_ONLY,
    "customer.pay_due": KIOSK_ONLY,
    "customer.pay_retry": KIOSK_ONLY,
    "customer.pay_printer": KIOSK_ONLY,
    "customer.pay_no_paper": KIOSK_ONLY,
    "customer.pay_email": KIOSK_ONLY,
    "customer.questions": KIOSK_ONLY,
    "customer.question": KIOSK_ONLY,
    "customer.pickup_day": KIOSK_ONLY,
    "customer.scan": KIOSK_ONLY,
    "customer.service": KIOSK_ONLY,
    "customer.service_details": KIOSK_ONLY,
    "customer.service_done": KIOSK_ONLY,
    "customer.status_lookup": KIOSK_ONLY,
    "customer.status_result": KIOSK_ONLY,
    "customer.ticket": KIOSK_ONLY,
    "customer.ticket_done": KIOSK_ONLY,
    # the counter
    "counter.index": COUNTER,
    "counter.reprint": COUNTER,
    "counter_queue.index": COUNTER,
    "counter_queue.call_next": COUNTER,
    "counter_queue.call_number": COUNTER,
    "counter_queue.call_ticket": COUNTER,
    "counter_queue.recall": COUNTER,
    "counter_queue.no_show": COUNTER,
    "counter_queue.transfer": COUNTER,
    "counter_queue.walk_in": COUNTER,
    "counter_queue.finish": COUNTER,
    "counter_queue.visit_log": COUNTER,
    # the lobby's now-serving screen: public, numbers and counter names only
    "lobby.now_serving": EVERYONE,
    "lobby.now_serving_json": EVERYONE,
    # counter lock, supervisor override, void/refund and drawer screens (brief D)
    "counter_lock.lock": COUNTER,
    "counter_lock.unlock": COUNTER,
    "counter_lock.heartbeat": COUNTER,
    "counter_lock.pin": COUNTER,
    "counter_lock.release": GUEST,  # a supervisor's typed credentials free a held station
    "counter_stations.index": SUPERVISOR,  # held stations, freed from the supervisor's screen
    "counter_stations.release": SUPERVISOR,
    "counter_override.void": COUNTER,
    "counter_override.refund": COUNTER,
    "counter_drawer.index": COUNTER,
    "counter_drawer.open_drawer": COUNTER,
    "counter_drawer.movement": COUNTER,
    "counter_drawer.close": COUNTER,
    "counter_drawer.result": COUNTER,
    "counter_drawer.approve": COUNTER,
    "counter_drawer.reopen": COUNTER,
    "counter_accounts.search": COUNTER,
    "counter_accounts.account": COUNTER,
    "counter_accounts.pay": COUNTER,
    "counter_accounts.payment": COUNTER,
    "counter_accounts.reprint": COUNTER,
    "counter_accounts.cancel": COUNTER,
    # finance
    "finance.index": FINANCE,
    # deposit slip and CIS posting batches (brief S); the audit viewer: finance and admin
    "finance_deposit.deposit_page": FINANCE,
    "finance_deposit.prepare": FINANCE,
    "finance_deposit.verify": FINANCE,
    "finance_deposit.slip_pdf": FINANCE,
    "finance_deposit.postings": FINANCE,
    "finance_audit.audit_log": FINANCE | ADMIN,
    "finance_audit.verify_chain": FINANCE | ADMIN,
    "api.get_deposit": FINANCE,
    "api.get_postings": FINANCE,
    # performance measures: finance, and supervisors and admins who run the office
    "finance_measures.dashboard": FINANCE | SUPERVISOR | ADMIN,
    "finance_measures.csv_download": FINANCE | SUPERVISOR | ADMIN,
    "api.get_measures": FINANCE | SUPERVISOR | ADMIN,
    # administration
    "admin.index": ADMIN,
    "admin.add_station": ADMIN,
    "admin.reissue_pairing_code": ADMIN,
    "admin.disable_station": ADMIN,
    "admin.add_user": ADMIN,
    "admin.disable_staff_user": ADMIN,
    "admin.unlock_staff_user": ADMIN,
    # JSON API used by the kiosk pages and the counter
    "api.search_accounts": KIOSK_AND_STAFF,
    "api.get_account": KIOSK_AND_STAFF,
    "api.create_payment": KIOSK_AND_COUNTER,
    "api.get_payment": KIOSK_AND_COUNTER | FINANCE,
    "api.cancel_payment": KIOSK_AND_COUNTER,
    "api.refund_payment": COUNTER,  # a cashier with a supervisor's typed credentials
    "api.void_payment": COUNTER,
    "api.get_test_card": KIOSK_AND_COUNTER,  # demo: the simulated reader's test card
    "api.set_test_card": KIOSK_AND_COUNTER,
    "api.receipt_json": KIOSK_AND_STAFF,
    "api.receipt_pdf": KIOSK_AND_STAFF,
    "api.receipt_png": KIOSK_AND_STAFF,
    "api.receipt_reprint": KIOSK_AND_STAFF,
    "api.create_service_request": KIOSK_AND_STAFF,
    "api.get_service_request": KIOSK_AND_STAFF,
    "api.create_ticket": KIOSK_AND_STAFF,
    # the counter queue and counter visits (brief Q)
    "api.get_queue": COUNTER,
    "api.call_next_ticket": COUNTER,
    "api.call_queue_ticket": COUNTER,
    "api.recall_queue_ticket": COUNTER,
    "api.no_show_queue_ticket": COUNTER,
    "api.transfer_queue_ticket": COUNTER,
    "api.create_visit": COUNTER,
    "api.end_visit": COUNTER,
    # finance: the daily report (supervisors read it: they approved its voids and refunds)
    "api.daily_report": FINANCE | SUPERVISOR,
    "api.daily_report_pdf_view": FINANCE | SUPERVISOR,
    "api.daily_report_csv_view": FINANCE | SUPERVISOR,
    "api.close_day": FINANCE,
    # finance: card reconciliation with Stripe (brief R)
    "finance_recon.page": FINANCE,
    "finance_recon.run": FINANCE,
    "finance_recon.resolve": FINANCE,
    # finance and supervisors: card payments flagged for review (complete, refund, close)
    "finance_review.index": FINANCE | SUPERVISOR,
    "finance_review.detail": FINANCE | SUPERVISOR,
    "finance_review.complete": FINANCE | SUPERVISOR,
    "finance_review.refund": FINANCE | SUPERVISOR,
    "finance_review.close": FINANCE | SUPERVISOR,
    # finance: the business day screen, begin closing, close, reopen (brief G1)
    "finance_day.day_page": FINANCE,
    "finance_day.begin_closing": FINANCE,
    "finance_day.close": FINANCE,
    "finance_day.reopen": FINANCE,
    "api.get_reconciliation": FINANCE,
    # cash drawers: approve/reopen take a supervisor's typed credentials on a cashier's screen
    "api.open_drawer": COUNTER,
    "api.get_drawer": COUNTER | FINANCE,
    "api.current_drawer": COUNTER,
    "api.record_drawer_movement": COUNTER,
    "api.close_drawer": COUNTER,
    "api.approve_drawer": COUNTER,
    "api.reopen_drawer": COUNTER,
}

CSRF_EXEMPT = {"webhooks.stripe_webhook"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

# Values for URL arguments; any value will do, a 404 still proves the caller got past the check.
SAMPLE_ARGS = {"filename": "css/staff.css"}


def _sample(converter) -> object:
    name = type(converter).__name__
    if name in ("IntegerConverter", "NumberConverter"):
        return 1
    if name == "UUIDConverter":
        return "00000000-0000-0000-0000-000000000000"
    return "sample1"


@pytest.fixture
def callers(app, sessions, office, kiosk_client):
    """One test client per kind of caller; staff hold exactly one role each."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash shows up as a 500 answer, listed below
    result = {ANONYMOUS: app.test_client(), KIOSK: kiosk_client}
    for role in STAFF_ROLES:
        with sessions() as s:
            user = factories.make_staff(s, role, office_id=office.id)
            s.commit()
        c = app.test_client()
        assert login(c, user.username).status_code == 302
        result[role] = c
    return result


def _requests(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every rule and method. Built up front: requests must not
    run inside this request context, or they would share its ``g``."""
    out = []
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            values = {
                name: SAMPLE_ARGS.get(name, _sample(conv))
                for name, conv in rule._converters.items()
            }
            url = url_for(rule.endpoint, **values)
            out.extend((rule.endpoint, method, url) for method in sorted(rule.methods))
    return out


def test_every_route_has_a_decision(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(routes - set(EXPECTED)) == [], "routes missing from EXPECTED: decide who may"
    assert sorted(set(EXPECTED) - routes) == [], "EXPECTED lists routes that no longer exist"


def test_route_matrix(app, callers):
    wrong: list[str] = []
    crashed: list[str] = []
    for endpoint, method, url in _requests(app):
        api = url.startswith("/api/") or url in ("/healthz", "/webhooks/stripe")
        for who, c in callers.items():
            response = c.open(url, method=method, json={} if method in MUTATING else None)
            status = response.status_code
            location = response.headers.get("Location", "")
            allowed = who in EXPECTED.get(endpoint, frozenset())
            label = f"{method} {url} as {who}: {status} {location}".strip()
            if status == 500:
                crashed.append(label)
            if allowed:
                if status in (401, 403) or location.startswith("/login?next="):
                    wrong.append(f"{label} (should be allowed)")
                elif (
                    method in MUTATING
                    and endpoint not in CSRF_EXEMPT
                    and not _is_csrf_refusal(response, api)
                ):
                    wrong.append(f"{label} (a request without CSRF token got through)")
            else:
                if who == ANONYMOUS and api:
                    ok = status == 401 and _error_code(response, method) in (
                        "unauthenticated",
                        None,
                    )
                elif who == ANONYMOUS:
                    ok = status == 302 and location.startswith("/login?next=")
                else:
                    ok = status == 403
                if not ok:
                    wrong.append(f"{label} (should be denied)")
            response.close()
    assert wrong == [], "\n".join(wrong[:40])
    assert crashed == [], "answered 500 instead of a clear message:\n" + "\n".join(crashed)


def _error_code(response, method: str) -> str | None:
    """The JSON error code; None for HEAD, which has no body to read."""
    if method == "HEAD":
        return None
    return (response.get_json(silent=True) or {}).get("error", {}).get("code", "not json")


def _is_csrf_refusal(response, api: bool) -> bool:
    if response.status_code != 400:
        return False
    if api:
        return _error_code(response, "POST") == "csrf_failed"
    return "The form expired" in response.get_data(as_text=True)


def test_is_api_request_matches_the_json_routes(app):
    with app.test_request_context("/api/v1/accounts"):
        assert is_api_request()
    with app.test_request_context("/kiosk/"):
        assert not is_api_request()
