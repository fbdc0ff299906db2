"""The web server: ``create_app`` builds the Flask app for one workspace.

Blueprints: ``api`` (``/api/v1``, JSON, one nested blueprint per resource), ``pages``,
``completeness``, ``versions`` and ``team`` (HTML), ``auth`` (login, logout), ``ops``
(``/healthz``, ``/metrics``, request logs: :mod:`labeler.web.ops`);
:mod:`labeler.web.auth` checks who asks and what their role allows. ``static/`` and
``templates/`` live at the repository's top level; an installed Labeler finds
them under ``<prefix>/share/labeler/``.
"""

from __future__ import annotations

import os
import secrets
import sys
import sysconfig
from pathlib import Path
from typing import Any

from flask import Flask

import labeler
from labeler.workspace import CONFIG_DIR, Workspace

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def resource_dir(name: str) -> Path:
    """``static`` or ``templates``: from the source checkout, else from the install prefix."""
    candidates = [
        Path(labeler.__file__).resolve().parents[1] / name,
        Path(sysconfig.get_path("data")) / "share" / "labeler" / name,
        Path(sys.prefix) / "share" / "labeler" / name,
    ]
    for path in candidates:
        if path.is_dir():
            return path
    raise RuntimeError(f"Labeler's {name}/ folder not found (looked in {candidates})")


def secret_key(ws: Workspace) -> bytes:
    """The workspace's session key, made once: sessions (and CSRF tokens) survive restarts."""
    path = ws.root / CONFIG_DIR / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key.encode()
        raise RuntimeError(f"{path} is empty or too short; delete it to make a new one") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key.encode()


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The Labeler web app.

    Parameters
    ----------
    config : dict, optional
        Flask config overrides. ``WORKSPACE`` is a path or a
        :class:`~labeler.workspace.Workspace` (default: found from
        ``$LABELER_WORKSPACE`` or the current directory). ``MAX_CONTENT_LENGTH``
        defaults to 1 MB; ``SECRET_KEY`` to a random key kept in
        ``.labeler/secret_key``; ``ALLOWED_HOSTS`` (the ``Host`` names served, see
        :mod:`labeler.web.guard`) to the loopback names.
    """
    from labeler.prelabel.feedback import Learner
    from labeler.prelabel.propagate import JobRunner
    from labeler.web import api, completeness, login, pages, team, versions
    from labeler.web.auth import init_auth
    from labeler.web.csrf import init_csrf
    from labeler.web.errors import register_error_handlers
    from labeler.web.guard import init_guard
    from labeler.web.ops import init_ops

    config = dict(config or {})
    ws = config.pop("WORKSPACE", None)
    if not isinstance(ws, Workspace):
        ws = Workspace.open(ws) if ws else Workspace.find()
    app = Flask(
        __name__,
        static_folder=str(resource_dir("static")),
        template_folder=str(resource_dir("templates")),
    )
    app.config.update(
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="labeler_session",
    )
    app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(ws)
    app.config["WORKSPACE"] = ws
    app.extensions["labeler.workspace"] = ws
    ws.engine  # noqa: B018 - migrate now, not inside the first request
    runner = JobRunner(ws)
    runner.recover()
    app.extensions["labeler.jobs"] = runner
    app.extensions["labeler.learner"] = Learner(ws)

    register_error_handlers(app)
    init_ops(app)  # first: every request, refused or not, is timed and logged
    init_guard(app)  # first: a rebinding Host or a foreign Origin meets nothing else
    init_auth(app)  # before CSRF: a bearer-token request needs no CSRF token
    init_csrf(app)
    app.after_request(_security_headers)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(completeness.bp)
    app.register_blueprint(versions.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(team.bp)
    return app
