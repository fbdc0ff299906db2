"""The Team page (per-user figures, users, assignment for admins) and the review queue.

Both pages are HTML over the same queries as ``/api/v1``; their buttons post JSON to the
API (``static/team.js``): approve and send back are ``POST /api/v1/images/<id>/state``.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from labeler.accounts import allows
from labeler.store import accounts as account_queries
from labeler.store import browsing, figures, review
from labeler.web.common import identity, workspace
from labeler.web.params import PAGE_SIZE, int_arg
from labeler.web.shapes import image_item

bp = Blueprint("team", __name__)


@bp.get("/team")
def show_team():
    with workspace().sessions() as s:
        return render_template(
            "team.html",
            figures=figures.team_figures(s),
            users=account_queries.list_accounts(s),
            datasets=[(d.id, d.name) for d in browsing.list_datasets(s)],
            can_assign=allows(identity().role, "assign"),
        )


@bp.get("/review")
def show_review_queue():
    after = int_arg("page", lo=0, hi=2**62)
    with workspace().sessions() as s:
        rows, nxt = review.review_queue(s, after=after, limit=PAGE_SIZE)
        items = [
            {**image_item(im, im.dataset), "dataset": im.dataset.name, "version": im.version,
             "finished_by": im.updated_by}
            for im in rows
        ]  # fmt: skip
        return render_template("review.html", items=items, next_page=nxt)
