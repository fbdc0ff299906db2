"""Label classes per dataset: list, add, edit (name, colour, hotkey 1-9)."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify
from sqlalchemy.exc import IntegrityError

from labeler.store.models import Dataset, LabelClass
from labeler.store.queries import PALETTE
from labeler.web.common import get_or_404, label_json, workspace
from labeler.web.errors import field, invalid, json_body

bp = Blueprint("labels", __name__)

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_NAME = 200


def _name(data: dict, *, required: bool) -> str | None:
    name = field(data, "name", "str", required=required)
    if name is None:
        return None
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise invalid(f"label name must be 1-{MAX_NAME} printable characters, got {name!r}")
    return name


def _colour(data: dict) -> str | None:
    colour = field(data, "colour", "str", required=False)
    if colour is not None and not COLOUR.match(colour):
        raise invalid(f"colour must be a CSS hex colour like '#1f77b4', got {colour!r}")
    return colour


def _check(dataset: Dataset, label: LabelClass | None, name: str | None, hotkey) -> None:
    others = [lab for lab in dataset.labels if lab is not label]
    if name is not None and any(lab.name == name for lab in others):
        raise invalid(f"dataset {dataset.name!r} already has a label named {name!r}")
    if hotkey is not None:
        if isinstance(hotkey, bool) or not isinstance(hotkey, int) or not 1 <= hotkey <= 9:
            raise invalid(f"hotkey must be an integer 1-9 or null, got {hotkey!r}")
        taken = [lab.name for lab in others if lab.hotkey == hotkey]
        if taken:
            raise invalid(f"hotkey {hotkey} is already used by label {taken[0]!r}")


@bp.get("/datasets/<int:dataset_id>/labels")
def labels(dataset_id: int):
    with workspace().sessions() as s:
        ds = get_or_404(s, Dataset, dataset_id)
        return jsonify([label_json(lab) for lab in ds.labels])


@bp.post("/datasets/<int:dataset_id>/labels")
def add_label(dataset_id: int):
    data = json_body()
    name = _name(data, required=True)
    colour = _colour(data)
    with workspace().sessions.begin() as s:
        ds = get_or_404(s, Dataset, dataset_id)
        if "hotkey" in data:
            hotkey = data["hotkey"]
        else:  # like ingest: the next free key, if any
            used = {lab.hotkey for lab in ds.labels}
            hotkey = next((k for k in range(1, 10) if k not in used), None)
        _check(ds, None, name, hotkey)
        label = LabelClass(
            dataset=ds,
            name=name,
            colour=colour or PALETTE[len(ds.labels) % len(PALETTE)],
            hotkey=hotkey,
        )
        s.add(label)
        try:
            s.flush()
        except IntegrityError:  # a concurrent request added the same name
            raise invalid(f"dataset {ds.name!r} already has a label named {name!r}") from None
        return jsonify(label_json(label)), 201


@bp.patch("/labels/<int:label_id>")
def edit_label(label_id: int):
    data = json_body()
    name = _name(data, required=False)
    colour = _colour(data)
    with workspace().sessions.begin() as s:
        label = get_or_404(s, LabelClass, label_id)
        hotkey = data.get("hotkey") if "hotkey" in data else None
        _check(label.dataset, label, name, hotkey)
        if name is not None:
            label.name = name
        if colour is not None:
            label.colour = colour
        if "hotkey" in data:
            label.hotkey = hotkey
        try:
            s.flush()
        except IntegrityError:
            raise invalid(f"label name {name!r} is already used in this dataset") from None
        return jsonify(label_json(label))
