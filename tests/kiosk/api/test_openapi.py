"""The OpenAPI document: valid OpenAPI 3.1, and in step with the routes the app serves."""

from __future__ import annotations

import re
import sys
import types

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from kiosk.api import openapi
from tests import factories

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _documented_paths(app):
    """(path, method) for every JSON API route: /api/v1/... plus /healthz."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.rule == "/healthz"):
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in rule.methods - _IGNORED_METHODS:
            found.add((path, method.lower()))
    return found


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")  # anonymous: the document is public
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_31(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented_and_nothing_else(app, document):
    served = _documented_paths(app)
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert served - documented == set(), "routes missing from OPENAPI_PATHS"
    assert documented - served == set(), "documented paths that no route serves"


def test_health_and_accounts_are_included(document):
    assert "get" in document["paths"]["/healthz"]
    assert "get" in document["paths"]["/api/v1/accounts"]
    assert "get" in document["paths"]["/api/v1/accounts/{number}"]
    for name in ("Error", "Account", "Bill", "AccountSummary"):
        assert name in document["components"]["schemas"]


def test_every_operation_has_an_id_and_responses(document):
    ids = []
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["responses"]
            ids.append(operation.get("operationId"))
    assert None not in ids
    assert len(ids) == len(set(ids)), "operationId must be unique"


def test_every_call_a_locked_counter_refuses_documents_423(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            locked = operation["responses"].get("423")
            if operation.get("security") == []:
                assert locked is None, (method, path)  # public: no counter sign-in involved
            else:
                assert locked == {"$ref": "#/components/responses/CounterLocked"}, (method, path)
    assert "423" in document["paths"]["/api/v1/queue"]["get"]["responses"]


def _validator(document, name):
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def test_account_responses_match_their_schemas(kiosk_client, sessions, document):
    with sessions() as s:
        account = factories.make_account(s, number="100300", house_number=77, phone="7145550100")
        factories.make_bill(s, account)
        s.commit()
    detail = kiosk_client.get("/api/v1/accounts/100300").get_json()
    _validator(document, "Account").validate(detail)
    search = kiosk_client.get("/api/v1/accounts?q=77 bristol").get_json()
    _validator(document, "AccountSearch").validate(search)
    error = kiosk_client.get("/api/v1/accounts/999999").get_json()
    _validator(document, "Error").validate(error)
    health = kiosk_client.get("/healthz").get_json()
    _validator(document, "Health").validate(health)


def _fake_module(monkeypatch, name, **attrs):
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    real = openapi.api_modules
    monkeypatch.setattr(openapi, "api_modules", lambda: [*real(), name])


def test_modules_contribute_paths_and_components(monkeypatch):
    _fake_module(
        monkeypatch,
        "kiosk.api._fake_extra",
        OPENAPI_PATHS={"/api/v1/extra": {"get": {"responses": {"200": {"description": "ok"}}}}},
        OPENAPI_COMPONENTS={"schemas": {"Extra": {"type": "object"}}},
    )
    document = openapi.build_document()
    assert "/api/v1/extra" in document["paths"]
    assert "Extra" in document["components"]["schemas"]
    assert "Error" in document["components"]["schemas"]


def test_a_path_documented_twice_is_refused(monkeypatch):
    _fake_module(
        monkeypatch,
        "kiosk.api._fake_clash",
        OPENAPI_PATHS={"/api/v1/accounts": {"get": {"responses": {}}}},
    )
    with pytest.raises(ValueError, match="documented twice"):
        openapi.build_document()
