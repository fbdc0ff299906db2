"""Who is asking, and may they: authentication and the role check of every request.

- No accounts in the workspace: single-user mode, as before accounts existed, and only
  for requests from loopback (``labeler serve`` also refuses a public address then). The
  ``X-Labeler-User`` header names the editor, as it always did.
- Accounts exist: every request but :data:`PUBLIC` needs ``Authorization: Bearer TOKEN``
  or the session cookie of a login (401 otherwise); ``X-Labeler-User`` is ignored.

Each endpoint's action is looked up in :data:`ENDPOINT_ACTIONS` and checked against the
permission table (:mod:`labeler.accounts.roles`); an endpoint that changes something and is
missing from the table needs the admin role, so a new view is never open by accident.
An annotator may not open an image assigned to someone else, nor change an approved one.
"""

from __future__ import annotations

import ipaddress

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface

from labeler import accounts
from labeler.accounts import Action, Forbidden, Identity
from labeler.store import accounts as account_queries
from labeler.store import boxes as box_writes
from labeler.web.common import USER_HEADER, identity, workspace
from labeler.web.errors import Unauthenticated, bad_request

PUBLIC = {"auth.show_login", "auth.log_in", "ops.show_health", "static", "api.openapi.show_openapi"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

ENDPOINT_ACTIONS: dict[str, Action] = {
    "api.boxes.create_box": "draw",
    "api.boxes.patch_box": "draw",
    "api.boxes.delete_box": "draw",
    "api.boxes.decide_boxes": "decide",
    "api.boxes.set_image_state": "finish",  # approve / send back: a review (see the view)
    "api.matching.find_similar": "draw",
    "api.matching.start_propagate": "draw",
    "api.matching.cancel_job": "draw",
    "api.labels.add_label": "manage_labels",
    "api.labels.edit_label": "manage_labels",
    "api.team.assign_images": "assign",
    "api.team.list_review_queue": "review",
    "api.team.list_users": "review",
    "api.team.add_user": "manage_users",
    "api.team.remove_user": "manage_users",
    "api.team.show_figures": "review",
    "versions.create_dataset_version": "version",
    "team.show_team": "review",
    "team.show_review_queue": "review",
    "auth.log_out": "view",
    "ops.show_metrics": "manage_users",  # admins: it names datasets, labels and users
}


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def is_loopback(address: str | None) -> bool:
    if address == "localhost":
        return True
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or ip).is_loopback


def _local_identity() -> Identity:
    if not is_loopback(request.remote_addr):
        raise Forbidden(
            "this workspace has no user accounts, so it serves loopback only: add one with "
            "`labeler user add NAME --role admin`",
            action="view",
            needed=None,
            role="nobody",
        )
    name = request.headers.get(USER_HEADER, "").strip()
    if len(name) > 200:
        raise bad_request(f"{USER_HEADER} header longer than 200 characters")
    return Identity(name=name or workspace().user, role="admin")


def _team_identity(session) -> Identity:
    ws = workspace()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        found = accounts.identity_for_token(ws, token.strip())
        if found is None:
            raise Unauthenticated("invalid or revoked API token")
        return found
    if "account_id" in session:
        found = accounts.identity_for_session(
            ws, account_id=session["account_id"], name=session.get("account", "")
        )
        if found is not None:
            return found
        session.clear()
    raise Unauthenticated(
        "log in at /login, or send Authorization: Bearer TOKEN (labeler token create NAME)"
    )


def _action() -> Action | None:
    action = ENDPOINT_ACTIONS.get(request.endpoint or "")
    if action is None and request.method not in SAFE_METHODS:
        return "manage_users"  # unlisted writes: admins only
    return action or "view"


def check_images(image_ids, *, write: bool) -> None:
    """403 unless the caller may open (``write``: change) every image of ``image_ids``:
    assignments limit annotators, and an approved image is the reviewers'."""
    who = identity()
    if who.sees_all and accounts.allows(who.role, "review"):
        return
    with workspace().sessions() as s:
        access = account_queries.image_access(s, list(image_ids))
    for image_id, (assignee, state) in sorted(access.items()):
        refusal = who.image_refusal(image_id=image_id, assignee=assignee, state=state, write=write)
        if refusal is not None:
            raise refusal


def _image_of_request() -> list[int]:
    args = request.view_args or {}
    if "image_id" in args:
        return [args["image_id"]]
    if "box_id" in args:  # an unknown box: none here, the view answers 404
        with workspace().sessions() as s:
            return box_writes.image_ids_of(s, [args["box_id"]])
    return []


def init_auth(app: Flask) -> None:
    from flask import session

    app.session_interface = _SessionInterface()

    @app.before_request
    def _authenticate() -> None:
        g.identity = None
        if request.endpoint in PUBLIC:
            return
        if not accounts.has_accounts(workspace()):
            g.identity = _local_identity()
            return
        g.identity = _team_identity(session)
        g.identity.require(_action())
        images = _image_of_request()
        if images:
            check_images(images, write=request.method not in SAFE_METHODS)
