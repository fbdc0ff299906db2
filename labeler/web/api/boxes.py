"""Box and image-state writes: create, patch, delete, decide, set state.

The rules (optimistic concurrency, image states) live in :mod:`labeler.store.boxes`;
these views parse the request and shape the answer.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from labeler.accounts import state_action
from labeler.prelabel import feedback
from labeler.store import boxes
from labeler.store.models import Box, Image
from labeler.store.queries import require
from labeler.web.auth import check_images
from labeler.web.common import identity, user, workspace
from labeler.web.errors import bad_request, field, is_id, json_body
from labeler.web.shapes import box_json, image_state_json

bp = Blueprint("boxes", __name__)

MAX_DECIDE = 10_000
GEOMETRY = ("x", "y", "w", "h")


def _label_ref(data: dict, *, required: bool) -> dict:
    """``label_id`` (wins when given) or ``label`` (a name), both type-checked."""
    by_id = data.get("label_id") is not None
    name = field(data, "label", "str", required=required and not by_id)
    return {"label_id": field(data, "label_id", "int")} if by_id else {"label": name}


def _score(data: dict) -> dict:
    return {"score": field(data, "score", "number", required=False)}


def _choice(data: dict, name: str, *, default: str | None = None) -> dict:
    value = field(data, name, "str", required=default is None)
    return {name: default if value is None else value}


@bp.post("/images/<int:image_id>/boxes")
def create_box(image_id: int):
    data = json_body()
    geometry = {k: field(data, k, "number") for k in GEOMETRY}
    with workspace().sessions.begin() as s:
        box = boxes.create_box(
            s,
            image_id=image_id,
            who=user(),
            **geometry,
            **_label_ref(data, required=True),
            **_choice(data, "status", default="accepted"),
            **_choice(data, "source", default="user"),
            **_score(data),
            is_exemplar=field(data, "is_exemplar", "bool", required=False, default=False),
        )
        return jsonify(box_json(box)), 201


@bp.patch("/boxes/<int:box_id>")
def patch_box(box_id: int):
    data = json_body()
    version = field(data, "version", "int")
    changes = {k: field(data, k, "number", required=False) for k in GEOMETRY}
    changes |= _label_ref(data, required=False)
    changes["status"] = field(data, "status", "str", required=False)
    if "is_exemplar" in data:
        changes["is_exemplar"] = field(data, "is_exemplar", "bool")
    if "score" in data:
        changes |= _score(data)
    with workspace().sessions.begin() as s:
        box = boxes.patch_box(s, box_id=box_id, version=version, who=user(), **changes)
        body = box_json(box)
    if changes["status"] in ("accepted", "rejected"):
        moved = any(changes.get(k) is not None for k in GEOMETRY) or "label_id" in changes
        outcome = "useful" if moved and changes["status"] == "accepted" else changes["status"]
        feedback.boxes_decided(workspace(), box_ids=[box_id], outcome=outcome, learner=_learner())
    return jsonify(body)


@bp.delete("/boxes/<int:box_id>")
def delete_box(box_id: int):
    data = json_body() if request.get_data(cache=True).strip() else {}  # optional {version}
    raw = request.args.get("version")
    if raw:  # ?version= wins over the body's
        try:
            version = int(raw)
        except ValueError:
            raise bad_request(f"version must be an integer, got {raw!r}") from None
        if not is_id(version):
            raise bad_request(f"version must be an integer below 2^63, got {raw!r}")
    else:
        version = field(data, "version", "int", required=False)
    with workspace().sessions.begin() as s:
        gone = box_json(require(s, Box, box_id))
        boxes.delete_box(s, box_id=box_id, version=version)
        return jsonify({"deleted": gone})


@bp.post("/boxes/decide")
def decide_boxes():
    data = json_body()
    ids = field(data, "ids", "list")
    if not ids or len(ids) > MAX_DECIDE or not all(is_id(i) for i in ids):
        raise bad_request(f"ids must be a list of 1 to {MAX_DECIDE} integer box ids")
    status = field(data, "status", "str")
    versions = field(data, "versions", "list", required=False)
    if versions is not None and (len(versions) != len(ids) or not all(is_id(v) for v in versions)):
        raise bad_request("versions must be a list of integers, one per id")
    with workspace().sessions.begin() as s:
        check_images(boxes.image_ids_of(s, ids), write=True)
        fresh = [box_json(b) for b in boxes.decide_boxes(
            s, ids=ids, status=status, versions=versions, who=user()
        )]  # fmt: skip
    feedback.boxes_decided(workspace(), box_ids=ids, outcome=status, learner=_learner())
    return jsonify({"boxes": fresh})


@bp.post("/images/<int:image_id>/state")
def set_image_state(image_id: int):
    """``{state, version?, comment?}``: finish an image, or (reviewers) approve it or send
    it back to ``in_progress`` with a ``comment`` for its annotator."""
    data = json_body()
    state = field(data, "state", "str")
    version = field(data, "version", "int", required=False)
    comment = field(data, "comment", "str", required=False)
    with workspace().sessions.begin() as s:
        current = require(s, Image, image_id).state
        identity().require(
            state_action(new_state=state, current_state=current, comment=comment is not None)
        )
        image = boxes.set_image_state(
            s, image_id=image_id, state=state, version=version, who=user(), comment=comment
        )
        body = image_state_json(image)
    feedback.image_finished(workspace(), image_id=image_id, state=state, learner=_learner())
    return jsonify(body)


def _learner():
    return current_app.extensions["labeler.learner"]
