"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of ``/api/v1``, served without auth.

The operations live in :mod:`labeler.web.openapi.paths` (one per route, keyed by Flask
endpoint), the answers' shapes in :mod:`~labeler.web.openapi.responses` (from
:mod:`labeler.web.shapes`) and the request bodies in :mod:`~labeler.web.openapi.requests`.
``tests/web/test_openapi.py`` checks that every ``/api/v1`` rule is described and that the
document is valid OpenAPI 3.1; ``tests/web/test_openapi_fuzz.py`` runs schemathesis against
a live server with it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

import labeler
from labeler.web.csrf import HEADER as CSRF_HEADER
from labeler.web.openapi.paths import error_responses, operations
from labeler.web.openapi.requests import request_schemas
from labeler.web.openapi.responses import response_schemas
from labeler.web.openapi.schemas import ENUMS

bp = Blueprint("openapi", __name__)
ENDPOINT = "api.openapi.show_openapi"

DESCRIPTION = f"""\
The JSON API of a Labeler workspace (`labeler serve`). Every error is
`{{"error": CODE, "detail": MESSAGE}}` (see the Error schema) with its HTTP status.

**Auth.** A workspace with accounts accepts either credential on every operation but this
document:

- `Authorization: Bearer TOKEN` (an API token: `labeler token create NAME`), for scripts;
  no CSRF token needed.
- The session cookie of a login at `/login` (browsers). Every write (POST, PATCH, DELETE)
  must also send `{CSRF_HEADER}` with the token from `GET /api/v1/session`, and its
  `Origin` or `Referer`, when sent, must be this server.

A workspace without accounts (single-user mode) serves loopback only and needs no login:
reads need nothing, writes the session cookie and `{CSRF_HEADER}` as above, and the optional
`X-Labeler-User` header names the editor. Roles (annotator, reviewer, admin) limit what an
account may do (403 `forbidden` names the role needed); annotators see only their
assigned and unassigned images.

**Concurrency.** Boxes and images carry a `version`: send it back with a change, and a stale
one is a 409 whose `current` is the row as it now is.
"""


def build_spec(*, cookie_name: str = "labeler_session") -> dict[str, Any]:
    """The OpenAPI document; ``cookie_name`` is the app's ``SESSION_COOKIE_NAME``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint, (method, path, op) in operations().items():
        paths.setdefault(path, {})[method] = {"operationId": endpoint.split(".")[-1], **op}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Labeler API",
            "version": labeler.__version__,
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": paths,
        "components": {
            "schemas": {**ENUMS, **response_schemas(), **request_schemas()},
            "responses": error_responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`labeler token create NAME`).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie_name,
                    "description": "The signed session cookie of a login at /login.",
                },
                "csrfHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": CSRF_HEADER,
                    "description": "The session's CSRF token (GET /api/v1/session); "
                    "required with the session cookie on writes.",
                },
            },
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    }


@bp.get("/openapi.json")
def show_openapi():
    cached = current_app.extensions.get("labeler.openapi")
    if cached is None:
        cached = build_spec(cookie_name=current_app.config["SESSION_COOKIE_NAME"])
        current_app.extensions["labeler.openapi"] = cached
    return jsonify(cached)
