"""CSRF protection: one random token per browser session, required on every state change.

The token lives in the signed session cookie and must come back in the
``X-CSRF-Token`` header (or, from the HTML forms of login and logout, a ``csrf_token``
form field). A cross-site page can make the browser send the cookie but cannot read
the token, and custom headers are not sent on cross-site form posts. A request with an
API token (``Authorization: Bearer``) needs none: a browser never adds that header by
itself, so a cross-site page cannot forge one.
"""

from __future__ import annotations

import secrets

from flask import Flask, g, request, session

from labeler.web.errors import ApiError

HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def csrf_token() -> str:
    """This session's token, made on first use."""
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(32)
    return token


def _form_token() -> str:
    if request.mimetype != "application/x-www-form-urlencoded":
        return ""
    return request.form.get("csrf_token", "")


def init_csrf(app: Flask) -> None:
    @app.before_request
    def _check_csrf() -> None:
        if request.method in SAFE_METHODS:
            return
        who = g.get("identity")
        if who is not None and who.via == "token":
            return
        expected = session.get("csrf_token")
        sent = request.headers.get(HEADER, "") or _form_token()
        if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
            raise ApiError(
                403,
                f"missing or wrong {HEADER} header: GET /api/v1/session for this "
                "session's token and send it with every POST, PATCH, PUT and DELETE",
            )

    @app.context_processor
    def _token() -> dict:
        return {"csrf_token": csrf_token()}
