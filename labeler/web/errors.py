"""JSON errors for the API and strict request parsing.

Every error under ``/api/`` answers ``{"error": <code>, "detail": <message>}``
with the matching status, so scripts and the annotator never have to parse
an HTML error page. ``error`` is a stable machine-readable code:

=====  ====================  ===============================================
 400   ``bad_request``       malformed JSON, missing field, wrong type
 400   ``bad_host``          a ``Host`` this server does not answer to (DNS rebinding)
 401   ``unauthorized``      no login or API token (once the workspace has accounts)
 403   ``csrf``              missing or wrong ``X-CSRF-Token``
 403   ``foreign_origin``    a write whose ``Origin``/``Referer`` is another site
 403   ``forbidden``         the role may not do this; ``role_needed`` names the least
                             role that may, ``role`` is the caller's
 404   ``not_found``         unknown id or route
 405   ``method_not_allowed``  the ``Allow`` header lists the allowed methods
 409   ``conflict``          stale ``version``; the body has ``current``
 413   ``too_large``         body over ``MAX_CONTENT_LENGTH``
 422   ``invalid``           well-formed but invalid values (also integers past 2^63)
 500   ``internal``
 507   ``disk_full``         the database's disk is full; nothing was saved
=====  ====================  ===============================================

The store raises domain errors (:mod:`labeler.store.queries`): ``NotFound`` is 404,
``InvalidInput`` and ``UnknownLabel`` 422, ``Conflict`` 409 with ``current``; views never
translate them themselves. :class:`~labeler.accounts.Forbidden` is 403 ``forbidden``;
:class:`Unauthenticated` is 401 for the API and a redirect to the login page for pages.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, url_for
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.exceptions import Conflict as HTTPConflict
from werkzeug.exceptions import Forbidden as HTTPForbidden
from werkzeug.exceptions import NotFound as HTTPNotFound

from labeler.accounts import Forbidden
from labeler.store.db import is_disk_full
from labeler.store.models import Box, Image
from labeler.store.queries import Conflict, InvalidInput, NotFound, StaleRow, UnknownLabel

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "csrf",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    500: "internal",
    507: "disk_full",
}
MAX_ID = 2**63 - 1  # the database's integers are signed 64-bit
_MAX_DIGITS = 19  # longer integer literals are not parsed at all (CPython refuses 4,300+)


class Unauthenticated(Exception):
    """No valid API token or login, in a workspace with accounts."""


class ApiError(Exception):
    """An API failure with its HTTP status; ``extra`` keys are merged into the body."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)


def invalid(detail: str) -> ApiError:
    return ApiError(422, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def error_response(status: int, detail: str, *, code: str | None = None, **extra: Any) -> Response:
    body = {"error": code or CODES.get(status, "error"), "detail": detail, **extra}
    resp = jsonify(body)
    resp.status_code = status
    return resp


class _NonFinite(ValueError):
    pass


class OutOfRange:
    """An integer literal too long for the database: kept as its first digits, so that
    :func:`field` can name the field, and never an ``int`` (no type check takes it)."""

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"{self.digits[:12]}... ({len(self.digits)} digits)"


def _parse_int(digits: str) -> int | OutOfRange:
    if len(digits.lstrip("-")) > _MAX_DIGITS:
        return OutOfRange(digits)
    return int(digits)


def is_id(value: Any) -> bool:
    """An integer the database can store (ids, versions)."""
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_ID <= value <= MAX_ID


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN/Infinity literals that no JSON client should send.
    raise _NonFinite(name)


def json_body() -> dict[str, Any]:
    """The request's JSON object, parsed strictly (no NaN/Infinity, object at top level)."""
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if not raw.strip():
        raise bad_request("request body must be a JSON object, got an empty body")
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_int=_parse_int)
    except _NonFinite as exc:
        raise invalid(f"non-finite number {exc} in JSON body") from None
    except RecursionError:
        raise bad_request("malformed JSON body: nested too deep") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request(f"request body must be a JSON object, got {type(data).__name__}")
    return data


_TYPES = {
    "number": (int, float),
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def field(
    data: dict[str, Any], name: str, kind: str, *, required: bool = True, default: Any = None
) -> Any:
    """``data[name]`` checked to be of ``kind`` (400 when missing or mistyped).

    Numbers must be finite (422 otherwise: 1e999 parses to infinity).
    """
    if name not in data or (data[name] is None and not required):
        if required:
            raise bad_request(f"missing field {name!r}")
        return default
    value = data[name]
    ok = isinstance(value, _TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))
    if isinstance(value, OutOfRange) or (
        ok and kind != "bool" and isinstance(value, int) and not is_id(value)
    ):
        raise invalid(
            f"field {name!r} is out of range (integers must be below 2^63), got {value!r}"
        )
    if not ok:
        shown = json.dumps(value, default=repr)[:80]  # repr: an OutOfRange nested in it
        raise bad_request(f"field {name!r} must be a {kind}, got {shown}")
    if kind == "number" and not math.isfinite(value):
        raise invalid(f"field {name!r} must be a finite number, got {value!r}")
    return value


def _is_api() -> bool:
    """JSON errors: the API, ``/metrics`` (a scraper, not a browser: 401, no login page)
    and JSON posts from pages (``static/versions.js``)."""
    return request.path.startswith("/api/") or request.path == "/metrics" or request.is_json


def domain_status(exc: Exception) -> int:
    """The one mapping of the store's domain errors to HTTP statuses."""
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, UnknownLabel | InvalidInput):  # UnknownLabel is also a NotFound
        return 422
    return 404


def _current_json(current: object) -> dict | None:
    # Imported here: labeler.web.common imports this module for its errors.
    from labeler.web.shapes import box_json, image_state_json

    if isinstance(current, Box):
        return box_json(current)
    if isinstance(current, Image):
        return image_state_json(current)
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Conflict)
    @app.errorhandler(InvalidInput)
    @app.errorhandler(NotFound)
    def _domain(exc: Exception):
        status = domain_status(exc)
        if not _is_api():  # pages show the HTML error page of the same status
            page = {404: HTTPNotFound, 409: HTTPConflict}.get(status, BadRequest)
            return page(str(exc))
        if isinstance(exc, Conflict):
            return error_response(status, str(exc), current=_current_json(exc.current))
        return error_response(status, str(exc))

    @app.errorhandler(Forbidden)
    def _forbidden(exc: Forbidden):
        if not _is_api():
            return HTTPForbidden(str(exc))
        return error_response(
            403, str(exc), code="forbidden", role_needed=exc.needed, role=exc.role
        )

    @app.errorhandler(Unauthenticated)
    def _unauthenticated(exc: Unauthenticated):
        if not _is_api():
            return redirect(url_for("auth.show_login", next=request.full_path.rstrip("?")))
        resp = error_response(401, str(exc))
        resp.headers["WWW-Authenticate"] = 'Bearer realm="labeler"'
        return resp

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.detail, **exc.extra)

    @app.errorhandler(StaleRow)  # an ORM flush that met a newer version (version_id_col)
    def _stale(exc: StaleRow):
        return error_response(409, "the object was changed by someone else; reload it")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not _is_api():
            return exc
        resp = error_response(exc.code or 500, exc.description or exc.name)
        # Keep the exception's own headers: a 405 must say which methods are allowed (Allow).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_disk_full(exc):  # the transaction rolled back: nothing was saved
            log.error("database disk full on %s %s: %s", request.method, request.path, exc)
            return error_response(
                507, "the database's disk is full: nothing was saved; free space and retry"
            )
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not _is_api():
            return Response("Internal server error", status=500, mimetype="text/plain")
        return error_response(500, f"internal error: {type(exc).__name__}")
