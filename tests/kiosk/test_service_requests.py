"""Service requests: validation, reference numbers, status life-cycle, CIS outbox message."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kiosk import service_requests as sr
from kiosk.models import ServiceRequest
from payments.outbox import OutboxMessage
from tests import factories


@pytest.fixture
def account(session, office):
    a = factories.make_account(session, number="555001")
    session.commit()
    return a


def test_create_and_look_up(session, office, account):
    created = sr.create_request(
        session,
        office_id=office.id,
        account=account,
        kind="missed_pickup",
        details={"cart": "organics"},
        language="vi",
    )
    session.commit()
    assert len(created.reference) == 8 and created.reference.isdigit()
    status = sr.status_of(session, sr.format_reference(created.reference))
    assert status.status == "received" and status.kind == "missed_pickup"
    assert status.steps == [("received", True), ("scheduled", False), ("done", False)]
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.key == created.reference))
    payload = json.loads(message.payload)
    assert message.topic == "cis.service_request"
    assert message.office_id == created.office_id
    assert payload["account_number"] == "555001" and payload["details"] == {"cart": "organics"}
    created.status = "done"
    assert sr.status_of(session, created.reference).steps[-1] == ("done", True)


@pytest.mark.parametrize(
    ("kind", "details", "code"),
    [
        ("tree_trimming", {}, "bad_kind"),
        ("bulky_item", {"items": "9"}, "bad_details"),
        ("bulky_item", {"items": 2}, "bad_details"),
        ("bulky_item", {"items": "2", "note": "x"}, "bad_details"),
        ("cart_exchange", {"cart": "trash"}, "bad_details"),
        ("missed_pickup", "trash", "bad_details"),
    ],
)
def test_bad_requests_change_nothing(session, office, account, kind, details, code):
    with pytest.raises(sr.ServiceRequestError) as info:
        sr.create_request(session, office_id=office.id, account=account, kind=kind, details=details)
    assert info.value.code == code
    assert session.scalar(select(ServiceRequest.id)) is None
    assert session.scalar(select(OutboxMessage.id)) is None


@pytest.mark.parametrize(("ref", "code"), [("123", "bad_reference"), ("12345678", "not_found")])
def test_status_lookup_errors(session, ref, code):
    with pytest.raises(sr.ServiceRequestError) as info:
        sr.status_of(session, ref)
    assert info.value.code == code


def test_api_create_and_get(kiosk_client, office, sessions):
    from tests.conftest import csrf_token

    with sessions() as s:
        factories.make_account(s, number="777001")
        s.commit()
    token = csrf_token(kiosk_client, "/kiosk/")
    headers = {"X-CSRFToken": token}
    body = {"account_number": "777001", "kind": "bulky_item", "details": {"items": "3"}}
    r = kiosk_client.post("/api/v1/service-requests", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    ref = r.get_json()["reference"]
    got = kiosk_client.get(f"/api/v1/service-requests/{ref}").get_json()
    assert got["status"] == "received" and got["kind"] == "bulky_item"
    assert "account_number" not in got  # nothing personal by reference
    bad = kiosk_client.post(
        "/api/v1/service-requests", json={**body, "details": {"items": "x"}}, headers=headers
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_details"
    unknown = kiosk_client.post(
        "/api/v1/service-requests", json={**body, "account_number": "1"}, headers=headers
    )
    assert unknown.status_code == 404
    assert kiosk_client.get("/api/v1/service-requests/99999999").status_code == 404
    assert kiosk_client.get("/api/v1/service-requests/abc").status_code == 400
    not_json = kiosk_client.post("/api/v1/service-requests", data="x", headers=headers)
    assert not_json.status_code == 400
