"""Supervisor override (kiosk.override): the one rule for every approval, in the domain and
through the drawer and payments API (a cashier with a supervisor's typed credentials)."""

from __future__ import annotations

import pytest

from kiosk.models import StaffUser
from kiosk.override import OverrideError, verify_supervisor
from kiosk.staff import LoginPolicy
from tests import factories
from tests.kiosk.counter_helpers import audit_actions, client_for, counter_station, staff
from tests.support.security import cheap_argon2  # noqa: F401  (autouse)


@pytest.fixture
def people(session, office):
    cashier = factories.make_staff(session, "cashier", office_id=office.id)
    boss = factories.make_staff(session, "supervisor", office_id=office.id, full_name="Ana Ruiz")
    session.commit()
    return cashier, boss


def test_a_supervisor_approves_and_both_names_are_audited(session, sessions, people):
    cashier, boss = people
    user = verify_supervisor(
        session, boss.username, factories.PASSWORD, cashier_id=cashier.id, action="void"
    )
    session.commit()
    assert user.id == boss.id
    approved = audit_actions(sessions, "override.approved")
    assert len(approved) == 1
    action, actor, details = approved[0]
    assert actor == boss.username
    assert details["cashier"] == cashier.username and details["supervisor"] == boss.username
    assert details["action"] == "void"
    # an override is not a sign-in
    assert session.get(StaffUser, boss.id).last_login_at is None


@pytest.mark.parametrize(
    ("who", "password", "code", "status"),
    [
        ("boss", "wrong password!", "supervisor_rejected", 403),
        ("cashier", factories.PASSWORD, "not_a_supervisor", 403),
        ("nobody", factories.PASSWORD, "supervisor_rejected", 403),
        ("boss", "", "supervisor_required", 400),
        ("", factories.PASSWORD, "supervisor_required", 400),
        ("boss", None, "bad_supervisor", 400),
        ("x" * 65, factories.PASSWORD, "bad_supervisor", 400),
    ],
)
def test_refusals(session, sessions, people, who, password, code, status):
    cashier, boss = people
    username = {"boss": boss.username, "cashier": cashier.username}.get(who, who)
    with pytest.raises(OverrideError) as err:
        verify_supervisor(session, username, password, cashier_id=cashier.id, action="void")
    session.commit()
    assert (err.value.code, err.value.status) == (code, status)
    if status == 403:
        refused = audit_actions(sessions, "override.refused")
        assert len(refused) == 1 and refused[0][2]["cashier"] == cashier.username


def test_a_wrong_password_counts_toward_the_lockout(session, people):
    cashier, boss = people
    policy = LoginPolicy(max_failures=2)
    for _ in range(2):
        with pytest.raises(OverrideError):
            verify_supervisor(
                session, boss.username, "nope", cashier_id=cashier.id, action="x", policy=policy
            )
    session.commit()
    assert session.get(StaffUser, boss.id).locked_until is not None
    with pytest.raises(OverrideError) as err:  # now locked, even with the right password
        verify_supervisor(
            session, boss.username, factories.PASSWORD, cashier_id=cashier.id, action="x"
        )
    assert err.value.code == "supervisor_rejected"


def test_not_the_same_person_nor_an_inactive_supervisor(session, people):
    _, boss = people
    with pytest.raises(OverrideError) as err:
        verify_supervisor(
            session, boss.username, factories.PASSWORD, cashier_id=boss.id, action="x"
        )
    assert err.value.code == "same_person"
    other = factories.make_staff(session, "supervisor")
    other.active = False
    session.flush()
    with pytest.raises(OverrideError) as err:
        verify_supervisor(session, other.username, factories.PASSWORD, cashier_id=None, action="x")
    assert err.value.code == "supervisor_rejected"


def _post(c, url, body):
    import uuid

    return c.post(
        url, json=body, headers={"X-CSRFToken": c.csrf, "Idempotency-Key": uuid.uuid4().hex}
    )


def test_drawer_api_uses_the_same_rule(app, sessions, office):
    _, token = counter_station(sessions, office)
    cashier_user = staff(sessions, office, "cashier")
    boss = staff(sessions, office, "supervisor")
    c = client_for(app, cashier_user, token)
    drawer = _post(c, "/api/v1/drawers", {"counts": {"bill_20": 5}}).get_json()
    creds = {"username": boss.username, "password": "wrong"}
    r = _post(
        c, f"/api/v1/drawers/{drawer['id']}/close", {"counts": {"bill_1": 1}, "supervisor": creds}
    )
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "supervisor_rejected"
    refused = audit_actions(sessions, "override.refused")
    assert refused and refused[-1][2]["action"] == "drawer.close"
    # a cashier's own credentials are no supervisor's
    mine = {"username": cashier_user.username, "password": factories.PASSWORD}
    r = _post(
        c, f"/api/v1/drawers/{drawer['id']}/close", {"counts": {"bill_1": 1}, "supervisor": mine}
    )
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_a_supervisor"
    r = _post(c, f"/api/v1/drawers/{drawer['id']}/close", {"counts": {}, "supervisor": "boss"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_supervisor"
    creds["password"] = factories.PASSWORD
    r = _post(
        c, f"/api/v1/drawers/{drawer['id']}/close", {"counts": {"bill_20": 1}, "supervisor": creds}
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["close"]["approval_required"] and body["close"]["approved_by_id"] == boss.id


def test_payments_api_void_needs_approval_from_a_cashier(app, sessions, office):
    cashier_user = staff(sessions, office, "cashier")
    c = client_for(app, cashier_user)
    # the approval is checked before anything about the payment changes; an unknown
    # payment is simply not found
    r = _post(c, "/api/v1/payments/nope/void", {})
    assert r.status_code == 404
