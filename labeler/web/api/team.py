"""``/api/v1`` team resources: users, assignments, the review queue, per-user figures.

Approve and send back are ``POST /images/<id>/state`` (:mod:`labeler.web.api.boxes`).
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from labeler import accounts
from labeler.store import figures, review
from labeler.store.models import Dataset
from labeler.store.queries import require
from labeler.web.common import user, workspace
from labeler.web.errors import bad_request, field, json_body
from labeler.web.params import MAX_PAGE_SIZE, PAGE_SIZE, int_arg
from labeler.web.shapes import image_item

bp = Blueprint("team", __name__)


def _user_json(info) -> dict:
    return {"name": info.name, "role": info.role, "tokens": info.tokens}


@bp.get("/users")
def list_users():
    return jsonify([_user_json(u) for u in accounts.list_users(workspace())])


@bp.post("/users")
def add_user():
    """``{"name", "role", "password"}`` (admins): as ``labeler user add``."""
    data = json_body()
    info = accounts.add_user(
        workspace(),
        name=field(data, "name", "str"),
        role=field(data, "role", "str"),
        password=field(data, "password", "str"),
    )
    return jsonify(_user_json(info)), 201


@bp.delete("/users/<name>")
def remove_user(name: str):
    if name == user():
        raise bad_request("you cannot remove your own account (another admin can)")
    accounts.remove_user(workspace(), name=name)
    return jsonify({"removed": name})


@bp.post("/datasets/<int:dataset_id>/assign")
def assign_images(dataset_id: int):
    """``{"to": NAME, "images": N}`` or ``{"to": NAME, "all_unassigned": true}``."""
    data = json_body()
    to = field(data, "to", "str")
    count = field(data, "images", "int", required=False)
    every = field(data, "all_unassigned", "bool", required=False, default=False)
    if (count is None) == (not every):
        raise bad_request("give exactly one of 'images' (a number) and 'all_unassigned'")
    with workspace().sessions() as s:
        name = require(s, Dataset, dataset_id).name
    ids = accounts.assign(workspace(), dataset=name, to=to, count=count, who=user())
    return jsonify({"assigned": ids, "to": to})


@bp.get("/review-queue")
def list_review_queue():
    """Done and empty images waiting for review (``?dataset_id=``, ``page``, ``limit``)."""
    dataset_id = int_arg("dataset_id", lo=1, hi=2**62)
    with workspace().sessions() as s:
        ds = None if dataset_id is None else require(s, Dataset, dataset_id)
        rows, nxt = review.review_queue(
            s,
            dataset=ds,
            after=int_arg("page", lo=0, hi=2**62),
            limit=int_arg("limit", lo=1, hi=MAX_PAGE_SIZE) or PAGE_SIZE,
        )
        items = [{**image_item(im, im.dataset), "dataset_id": im.dataset_id,
                  "version": im.version, "finished_by": im.updated_by} for im in rows]  # fmt: skip
        return jsonify({"items": items, "next": nxt})


@bp.get("/team/figures")
def show_figures():
    with workspace().sessions() as s:
        return jsonify([row.to_dict() for row in figures.team_figures(s)])
