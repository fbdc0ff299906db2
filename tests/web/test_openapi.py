"""``/api/v1/openapi.json``: valid OpenAPI 3.1, served without auth, and describing every
``/api/v1`` route the app has (a new endpoint without a description fails here)."""

from __future__ import annotations

import re

import pytest
from helpers import log_in

from labeler.web.csrf import HEADER as CSRF_HEADER
from labeler.web.openapi import build_spec

SPEC_URL = "/api/v1/openapi.json"
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask answers them for every rule by itself


@pytest.fixture
def team_ws(demo_ws):
    """``demo_ws`` with accounts (team mode: every request but a few needs credentials)."""
    from labeler.accounts import add_user

    add_user(demo_ws, name="ada", role="admin", password="pass-ada-1234")
    return demo_ws


@pytest.fixture
def team_client(team_ws):
    from labeler.web import create_app

    app = create_app({"WORKSPACE": team_ws, "TESTING": True})
    yield app.test_client()
    app.extensions["labeler.jobs"].stop()
    team_ws.engine.dispose()


def _routes(app) -> set[tuple[str, str]]:
    """``(method, OpenAPI path)`` of every ``/api/v1`` rule in the app's ``url_map``."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            found |= {(m.lower(), path) for m in rule.methods - IGNORED_METHODS}
    return found


def _operations(spec) -> dict[tuple[str, str], dict]:
    return {(m, path): op for path, ops in spec["paths"].items() for m, op in ops.items()}


def test_every_api_route_is_described_and_nothing_else(web_app):
    routes = _routes(web_app)
    described = set(_operations(build_spec()))
    assert len(routes) >= 26
    assert routes - described == set(), "routes missing from labeler/web/openapi/paths.py"
    assert described - routes == set(), "described operations without a route"


def test_operation_ids_are_unique_and_path_parameters_declared():
    ops = _operations(build_spec())
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    for (_method, path), op in ops.items():
        in_path = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        assert in_path == declared, path


def test_the_document_is_valid_openapi_3_1():
    import schemathesis
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    spec = build_spec()
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)  # raises naming the first problem
    schemathesis.openapi.from_dict(spec).validate()


def test_an_invalid_document_is_refused():
    """The validity check can fail: a response without its description is not OpenAPI."""
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    spec = build_spec()
    del spec["paths"]["/api/v1/session"]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError):
        validate(spec, cls=OpenAPIV31SpecValidator)


def test_served_without_auth_in_a_team_workspace(team_client):
    assert team_client.get("/api/v1/session").status_code == 401  # credentials needed...
    resp = team_client.get(SPEC_URL)  # ...but not for the description
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.get_json() == build_spec()


def test_served_in_single_user_mode(web_app):
    resp = web_app.test_client().get(SPEC_URL)
    assert resp.status_code == 200 and resp.get_json()["info"]["title"] == "Labeler API"


def test_security_schemes_name_the_real_cookie_and_header(web_app):
    schemes = build_spec(cookie_name=web_app.config["SESSION_COOKIE_NAME"])["components"]
    schemes = schemes["securitySchemes"]
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "in": "cookie",
                                        "name": "labeler_session"}  # fmt: skip
    assert schemes["csrfHeader"]["name"] == CSRF_HEADER == "X-CSRF-Token"
    assert schemes["bearerAuth"]["scheme"] == "bearer"


def test_writes_need_the_csrf_header_with_the_cookie_and_reads_do_not():
    for (method, path), op in _operations(build_spec()).items():
        if path == SPEC_URL:
            assert op["security"] == [{}]
            continue
        cookie = next(req for req in op["security"] if "sessionCookie" in req)
        assert ("csrfHeader" in cookie) == (method != "get"), (method, path)
        assert {"bearerAuth": []} in op["security"]


@pytest.mark.parametrize(
    ("credentials", "csrf", "status"),
    [
        ("bearer", False, 201),  # an API token needs no CSRF token
        ("cookie", False, 403),
        ("cookie", True, 201),
        (None, False, 401),
    ],
)
def test_the_documented_credentials_are_the_accepted_ones(
    team_ws, team_client, credentials, csrf, status
):
    """What the description says of auth, against a real write (add a label)."""
    from labeler.accounts import create_token

    headers = {}
    if credentials == "bearer":
        headers["Authorization"] = f"Bearer {create_token(team_ws, name='ada')}"
    elif credentials == "cookie":
        assert log_in(team_client, "ada", "pass-ada-1234").status_code == 302
    if csrf:
        headers[CSRF_HEADER] = team_client.get("/api/v1/session").get_json()["csrf_token"]
    resp = team_client.post("/api/v1/datasets/1/labels", json={"name": "Cat"}, headers=headers)
    assert resp.status_code == status, resp.get_json()
