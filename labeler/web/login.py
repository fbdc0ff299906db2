"""Log in and log out.

The login page is a plain form (no script); its POST carries the session's CSRF token as
a form field. A successful login starts a new session (a cookie set before the login,
perhaps by someone else, is never promoted) with a new CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from labeler import accounts
from labeler.web.common import workspace
from labeler.web.csrf import csrf_token

bp = Blueprint("auth", __name__)


def _next_url() -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    target = request.values.get("next", "").strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.list_datasets")
    return target


@bp.get("/login")
def show_login():
    return render_template(
        "login.html",
        next_url=_next_url(),
        team=accounts.has_accounts(workspace()),
        user=session.get("account"),
        error=None,
    )


@bp.post("/login")
def log_in():
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    found = accounts.authenticate(workspace(), name=name, password=password) if name else None
    if found is None:
        page = render_template(
            "login.html", next_url=_next_url(), team=True, user=None,
            error="Wrong name or password.", name=name,
        )  # fmt: skip
        return page, 401
    session.clear()
    session["account_id"] = found.account_id
    session["account"] = found.name
    csrf_token()
    return redirect(_next_url())


@bp.post("/logout")
def log_out():
    session.clear()
    return redirect(url_for("auth.show_login"))
