"""Label classes per dataset: list, add, edit (name, colour, hotkey 1-9).

The naming, colour and hotkey rules live in :mod:`labeler.store.queries`.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from labeler.store import queries
from labeler.store.models import Dataset
from labeler.web.common import workspace
from labeler.web.errors import field, json_body
from labeler.web.shapes import label_json

bp = Blueprint("labels", __name__)


def _changes(data: dict, *, required: bool) -> dict:
    changes = {
        "name": field(data, "name", "str", required=required),
        "colour": field(data, "colour", "str", required=False),
    }
    if "hotkey" in data:  # null removes the key; absent: the next free one / unchanged
        changes["hotkey"] = data["hotkey"]
    return changes


@bp.get("/datasets/<int:dataset_id>/labels")
def list_labels(dataset_id: int):
    with workspace().sessions() as s:
        ds = queries.require(s, Dataset, dataset_id)
        return jsonify([label_json(lab) for lab in ds.labels])


@bp.post("/datasets/<int:dataset_id>/labels")
def add_label(dataset_id: int):
    changes = _changes(json_body(), required=True)
    with workspace().sessions.begin() as s:
        label = queries.add_label(s, dataset_id=dataset_id, **changes)
        return jsonify(label_json(label)), 201


@bp.patch("/labels/<int:label_id>")
def edit_label(label_id: int):
    changes = _changes(json_body(), required=False)
    with workspace().sessions.begin() as s:
        return jsonify(label_json(queries.edit_label(s, label_id=label_id, **changes)))
