"""Request context shared by the API and page views: the workspace and the user."""

from __future__ import annotations

from flask import current_app, request

from labeler.web.errors import bad_request
from labeler.workspace import Workspace

USER_HEADER = "X-Labeler-User"


def workspace() -> Workspace:
    return current_app.extensions["labeler.workspace"]


def user() -> str:
    """Who is editing: the ``X-Labeler-User`` header, else the workspace's user."""
    name = request.headers.get(USER_HEADER, "").strip()
    if len(name) > 200:
        raise bad_request(f"{USER_HEADER} header longer than 200 characters")
    return name or workspace().user
