"""Request context shared by the API and page views: the workspace and the user."""

from __future__ import annotations

from flask import current_app, g

from labeler.accounts import Identity
from labeler.workspace import Workspace

USER_HEADER = "X-Labeler-User"


def workspace() -> Workspace:
    return current_app.extensions["labeler.workspace"]


def identity() -> Identity:
    """The request's :class:`~labeler.accounts.Identity` (set by :mod:`labeler.web.auth`)."""
    return g.identity


def viewer_id() -> int | None:
    """The caller's account id if assignments limit what they see (an annotator's)."""
    who = g.identity
    return None if who.sees_all else who.account_id


def user() -> str:
    """Who is editing: the authenticated account (:mod:`labeler.web.auth`); in single-user
    mode the ``X-Labeler-User`` header, else the workspace's user."""
    return g.identity.name
