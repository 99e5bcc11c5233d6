"""Counter void and refund screens through the Flask client: the payment shown, a reason,
the amount (refund: full or part, cash or back to the card), a supervisor's typed approval
with both names in the audit log; bad input and wrong credentials change nothing. Also the
payments API accepting a supervisor's typed credentials from a cashier."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from kiosk.models import StaffUser
from payments.models import BusinessDay, Payment, Refund
from tests import factories
from tests.conftest import csrf_token
from tests.kiosk.counter_helpers import audit_actions, client_for, form_post, staff
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


@pytest.fixture
def cashier(app, sessions, office):
    return client_for(app, staff(sessions, office, "cashier", full_name="Rosa Diaz"))


@pytest.fixture
def boss(sessions, office):
    return staff(sessions, office, "supervisor", full_name="Ana Ruiz")


def _api(c, url, body):
    return c.post(
        url, json=body, headers={"X-CSRFToken": c.csrf, "Idempotency-Key": uuid.uuid4().hex}
    )


def _pay(c, sessions, tenders, amount=5_000) -> str:
    with sessions() as s:
        account = factories.make_account(s, balance_cents=amount)
        s.commit()
        number = account.number
    body = {"account_number": number, "amount_cents": amount}
    if tenders is not None:
        body["tenders"] = tenders
    r = _api(c, "/api/v1/payments", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def _payment(sessions, pid) -> Payment:
    with sessions() as s:
        return s.get(Payment, pid)


def _close_day(sessions, pid):
    with sessions() as s:
        pay = s.get(Payment, pid)
        s.add(
            BusinessDay(office_id=pay.office_id, business_date=pay.business_date, status="closed")
        )
        s.commit()


def test_void_with_a_supervisors_typed_credentials(cashier, sessions, boss):
    pid = _pay(cashier, sessions, [{"kind": "cash", "amount_cents": 6_000}])
    url = f"/counter/payments/{pid}/void"
    page = cashier.get(url).get_data(as_text=True)
    receipt = _payment(sessions, pid).receipt_number
    assert receipt in page and "$50.00" in page and 'name="supervisor_username"' in page
    # human labels, not the stored values
    assert "<strong>Paid</strong>" in page and "Cash $60.00; change given $10.00" in page
    assert "succeeded" not in page and "cash $60.00" not in page
    creds = {"supervisor_username": boss.username, "supervisor_password": factories.PASSWORD}
    cases = [
        ({**creds}, 400, "Give a reason"),
        ({"reason": "wrong account"}, 400, "must type their username and password"),
        ({"reason": "wrong account", **creds, "supervisor_password": "nope"}, 403, "Wrong"),
        (
            {
                "reason": "x",
                "supervisor_username": cashier.username,
                "supervisor_password": factories.PASSWORD,
            },
            403,
            "not a supervisor",
        ),
    ]
    for data, status, message in cases:
        r = form_post(cashier, url, data)
        assert r.status_code == status and message in r.get_data(as_text=True), data
        assert _payment(sessions, pid).status == "succeeded"
    with sessions() as s:
        assert s.get(StaffUser, boss.id).failed_logins == 1
    r = form_post(cashier, url, {"reason": "wrong account", **creds})
    assert r.status_code == 303
    assert _payment(sessions, pid).status == "voided"
    approved = audit_actions(sessions, "override.approved")[-1]
    assert approved[1] == boss.username and approved[2]["cashier"] == cashier.username
    voided = [e for e in audit_actions(sessions) if e[0] == "payment.voided"]
    assert voided and voided[-1][1] == cashier.username
    page = cashier.get(url).get_data(as_text=True)
    assert "This payment is void" in page and receipt in page
    shown = cashier.get(f"/counter/payments/{pid}").get_data(as_text=True)
    assert '<dd id="void-reason">wrong account</dd>' in shown


def test_a_signed_in_supervisor_voids_without_typing(app, sessions, office, boss):
    c = client_for(app, boss)
    pid = _pay(c, sessions, [{"kind": "cash", "amount_cents": 5_000}])
    page = c.get(f"/counter/payments/{pid}/void").get_data(as_text=True)
    assert "Leave blank to approve as yourself" in page
    r = form_post(c, f"/counter/payments/{pid}/void", {"reason": "duplicate"})
    assert r.status_code == 303 and _payment(sessions, pid).status == "voided"


def test_an_unknown_or_other_offices_payment_is_not_shown(app, cashier, sessions):
    r = cashier.get("/counter/payments/nope/void")
    assert r.status_code == 303 and r.headers["Location"] == "/counter/"
    with sessions() as s:
        office2 = factories.make_office(s, code="NB", name="North office")
        s.commit()
    outsider = client_for(app, staff(sessions, office2, "supervisor"))
    pid = _pay(cashier, sessions, [{"kind": "cash", "amount_cents": 5_000}])
    assert outsider.get(f"/counter/payments/{pid}/void").status_code == 303
    assert form_post(outsider, f"/counter/payments/{pid}/void", {"reason": "x"}).status_code == 303
    assert _payment(sessions, pid).status == "succeeded"


def test_refund_full_or_part_in_cash(cashier, sessions, boss):
    pid = _pay(cashier, sessions, [{"kind": "cash", "amount_cents": 5_000}])
    url = f"/counter/payments/{pid}/refund"
    creds = {"supervisor_username": boss.username, "supervisor_password": factories.PASSWORD}
    same_day = form_post(
        cashier, url, {"kind": "cash", "amount_choice": "full", "reason": "x", **creds}
    )
    assert same_day.status_code == 409 and "void the payment instead" in same_day.get_data(
        as_text=True
    )
    _close_day(sessions, pid)
    page = cashier.get(url).get_data(as_text=True)
    assert "Up to <strong>$50.00</strong>" in page and "Back to the card" not in page
    base = {"kind": "cash", "amount_choice": "part", "reason": "overpaid", **creds}
    for data, status, message in [
        ({**base, "amount": "ten"}, 400, "Enter an amount"),
        ({**base, "amount": "-5"}, 400, "cannot be negative"),
        ({**base, "amount": "0"}, 400, "above $0.00"),
        ({**base, "amount": "50.01"}, 400, "At most $50.00"),
        ({**base, "amount": "10", "kind": "card"}, 400, "Choose how the money goes back"),
        ({**base, "amount": "10", "supervisor_password": "bad"}, 403, "Wrong"),
    ]:
        r = form_post(cashier, url, data)
        assert r.status_code == status and message in r.get_data(as_text=True), data
    with sessions() as s:
        assert s.scalars(select(Refund)).all() == []
    r = form_post(cashier, url, {**base, "amount": "10.00", "refund_key": "once"})
    assert r.status_code == 303
    # the same form sent twice refunds once
    assert (
        form_post(cashier, url, {**base, "amount": "10.00", "refund_key": "once"}).status_code
        == 303
    )
    assert _payment(sessions, pid).refunded_cents == 1_000
    r = form_post(cashier, url, {**base, "amount_choice": "full"})
    assert r.status_code == 303
    payment = _payment(sessions, pid)
    assert payment.status == "refunded" and payment.refunded_cents == 5_000
    with sessions() as s:
        refunds = s.scalars(select(Refund)).all()
        assert {r.approved_by_id for r in refunds} == {boss.id}
    approved = audit_actions(sessions, "override.approved")
    assert [d["action"] for _, _, d in approved] == ["refund"] * 2  # a replay writes nothing
    assert "Nothing more can be refunded" in cashier.get(url).get_data(as_text=True)


def test_refund_back_to_the_card(kiosk_client, cashier, sessions, boss):
    kiosk_client.csrf = csrf_token(kiosk_client, "/pair")
    pid = _pay(kiosk_client, sessions, None, amount=8_450)
    # the kiosk asks for the status; the simulated reader has approved the card by then
    assert kiosk_client.get(f"/api/v1/payments/{pid}").get_json()["status"] == "succeeded"
    _close_day(sessions, pid)
    url = f"/counter/payments/{pid}/refund"
    page = cashier.get(url).get_data(as_text=True)
    assert "Back to the card" in page
    assert "Card Visa ...4242 $84.50" in page and "<strong>Paid</strong>" in page
    r = form_post(
        cashier,
        url,
        {
            "kind": "card",
            "amount_choice": "part",
            "amount": "20",
            "reason": "fee waived",
            "supervisor_username": boss.username,
            "supervisor_password": factories.PASSWORD,
        },
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    with sessions() as s:
        refund = s.scalars(select(Refund)).one()
        assert (refund.kind, refund.amount_cents, refund.status) == ("card", 2_000, "succeeded")


def test_payments_api_takes_a_supervisors_typed_credentials(cashier, sessions, boss):
    pid = _pay(cashier, sessions, [{"kind": "cash", "amount_cents": 5_000}])
    url = f"/api/v1/payments/{pid}/void"
    r = _api(cashier, url, {"reason": "x"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "supervisor_required"
    r = _api(cashier, url, {"supervisor": {"username": boss.username, "password": "no"}})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "supervisor_rejected"
    mine = {"username": cashier.username, "password": factories.PASSWORD}
    r = _api(cashier, url, {"supervisor": mine})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_a_supervisor"
    assert _payment(sessions, pid).status == "succeeded"
    good = {"username": boss.username, "password": factories.PASSWORD}
    r = _api(cashier, url, {"reason": "typo", "supervisor": good})
    assert r.status_code == 200 and r.get_json()["status"] == "voided"
    pid2 = _pay(cashier, sessions, [{"kind": "cash", "amount_cents": 5_000}])
    _close_day(sessions, pid2)
    r = _api(cashier, f"/api/v1/payments/{pid2}/refunds", {"amount_cents": 500, "supervisor": good})
    assert r.status_code == 201 and r.get_json()["refund"]["amount_cents"] == 500
