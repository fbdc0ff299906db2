"""Box and image-state writes: create, patch, delete, decide, set state.

Optimistic concurrency: a write that names a ``version`` runs as
``UPDATE ... WHERE id = :id AND version = :version`` and bumps the version, so
of two tabs editing one box exactly one wins and the other gets 409 with the
box as it now is (``current``), whatever the timing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import delete, func, select, update

from labeler.store.models import (
    BOX_SOURCES,
    BOX_STATUSES,
    IMAGE_STATES,
    Box,
    Image,
    LabelClass,
    utcnow,
)
from labeler.store.queries import InvalidBox, validate_box
from labeler.web.common import box_json, get_or_404, image_item, user, workspace
from labeler.web.errors import ApiError, bad_request, field, invalid, json_body

bp = Blueprint("boxes", __name__)

MAX_DECIDE = 10_000


def conflict(box: Box | None, what: str) -> ApiError:
    current = box_json(box) if box is not None else None
    return ApiError(409, f"{what} was changed by someone else; reload it", current=current)


def _label(data: dict, image: Image, *, required: bool) -> LabelClass | None:
    labels = image.dataset.labels
    if "label_id" in data and data["label_id"] is not None:
        lid = field(data, "label_id", "int")
        found = [lab for lab in labels if lab.id == lid]
        if not found:
            raise invalid(f"label_id {lid} is not a label of dataset {image.dataset.name!r}")
        return found[0]
    name = field(data, "label", "str", required=required)
    if name is None:
        return None
    found = [lab for lab in labels if lab.name == name]
    if not found:
        known = ", ".join(lab.name for lab in labels) or "none"
        raise invalid(f"unknown label {name!r} in dataset {image.dataset.name!r} (labels: {known})")
    return found[0]


def _choice(data: dict, name: str, allowed: tuple[str, ...], *, default: str | None) -> str | None:
    value = field(data, name, "str", required=default is None)
    if value is None:
        return default
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _geometry(data: dict, image: Image, base: Box | None = None) -> dict[str, float]:
    required = base is None
    vals = {k: field(data, k, "number", required=required) for k in ("x", "y", "w", "h")}
    if base is not None:
        vals = {k: (getattr(base, k) if v is None else v) for k, v in vals.items()}
    try:
        x, y, w, h = validate_box(*vals.values(), width=image.width, height=image.height)
    except InvalidBox as exc:
        raise invalid(f"image {image.id}: {exc}") from None
    return {"x": x, "y": y, "w": w, "h": h}


def _score(data: dict) -> float | None:
    score = field(data, "score", "number", required=False)
    if score is not None and not 0.0 <= score <= 1.0:
        raise invalid(f"score must be in [0, 1], got {score}")
    return score


def _start(image: Image, who: str) -> None:
    if image.state == "new":
        image.state = "in_progress"
        image.updated_by = who


@bp.post("/images/<int:image_id>/boxes")
def create_box(image_id: int):
    data = json_body()
    who = user()
    with workspace().sessions.begin() as s:
        image = get_or_404(s, Image, image_id)
        label = _label(data, image, required=True)
        box = Box(
            image_id=image.id,
            label_id=label.id,
            **_geometry(data, image),
            status=_choice(data, "status", BOX_STATUSES, default="accepted"),
            source=_choice(data, "source", BOX_SOURCES, default="user"),
            score=_score(data),
            is_exemplar=field(data, "is_exemplar", "bool", required=False, default=False),
            created_by=who,
            updated_by=who,
        )
        s.add(box)
        if box.status == "accepted":
            _start(image, who)
        s.flush()
        s.refresh(box)
        return jsonify(box_json(box)), 201


def _guarded_update(s, box: Box, version: int, values: dict[str, Any], who: str) -> None:
    if box.version != version:
        raise conflict(box, f"box {box.id}")
    stmt = (
        update(Box)
        .where(Box.id == box.id, Box.version == version)
        .values(**values, version=version + 1, updated_by=who, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if s.execute(stmt).rowcount != 1:
        s.expire(box)
        raise conflict(s.get(Box, box.id), f"box {box.id}")
    s.expire(box)


@bp.patch("/boxes/<int:box_id>")
def patch_box(box_id: int):
    data = json_body()
    who = user()
    version = field(data, "version", "int")
    with workspace().sessions.begin() as s:
        box = get_or_404(s, Box, box_id)
        image = box.image
        values: dict[str, Any] = _geometry(data, image, base=box)
        label = _label(data, image, required=False)
        if label is not None:
            values["label_id"] = label.id
        status = _choice(data, "status", BOX_STATUSES, default=box.status)
        values["status"] = status
        if "is_exemplar" in data:
            values["is_exemplar"] = field(data, "is_exemplar", "bool")
        if "score" in data:
            values["score"] = _score(data)
        _guarded_update(s, box, version, values, who)
        if status == "accepted":
            _start(image, who)
        s.flush()
        return jsonify(box_json(s.get(Box, box_id)))


@bp.delete("/boxes/<int:box_id>")
def delete_box(box_id: int):
    raw = request.args.get("version") or (
        json_body().get("version") if request.get_data(cache=True).strip() else None
    )
    try:
        version = None if raw is None else int(raw)
    except (TypeError, ValueError):
        raise bad_request(f"version must be an integer, got {raw!r}") from None
    with workspace().sessions.begin() as s:
        box = get_or_404(s, Box, box_id)
        gone = box_json(box)
        if version is not None and box.version != version:
            raise conflict(box, f"box {box_id}")
        stmt = delete(Box).where(Box.id == box_id, Box.version == box.version)
        if s.execute(stmt.execution_options(synchronize_session=False)).rowcount != 1:
            s.expire_all()
            raise conflict(s.get(Box, box_id), f"box {box_id}")
        s.expunge(box)
        return jsonify({"deleted": gone})


@bp.post("/boxes/decide")
def decide():
    data = json_body()
    who = user()
    ids = field(data, "ids", "list")
    if (
        not ids
        or len(ids) > MAX_DECIDE
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise bad_request(f"ids must be a list of 1 to {MAX_DECIDE} integer box ids")
    status = _choice(data, "status", BOX_STATUSES, default=None)
    versions = field(data, "versions", "list", required=False)
    if versions is not None and (
        len(versions) != len(ids) or not all(isinstance(v, int) for v in versions)
    ):
        raise bad_request("versions must be a list of integers, one per id")
    with workspace().sessions.begin() as s:
        boxes = {b.id: b for b in s.scalars(select(Box).where(Box.id.in_(ids)))}
        missing = sorted(set(ids) - set(boxes))
        if missing:
            raise ApiError(404, f"no box with id {', '.join(map(str, missing[:20]))}")
        for i, box_id in enumerate(dict.fromkeys(ids)):
            box = boxes[box_id]
            version = versions[ids.index(box_id)] if versions is not None else box.version
            _guarded_update(s, box, version, {"status": status}, who)
            if status == "accepted":
                _start(box.image, who)
            if i % 500 == 499:
                s.flush()
        s.flush()
        fresh = s.scalars(select(Box).where(Box.id.in_(ids)).order_by(Box.id))
        return jsonify({"boxes": [box_json(b) for b in fresh]})


@bp.post("/images/<int:image_id>/state")
def set_state(image_id: int):
    data = json_body()
    who = user()
    state = _choice(data, "state", IMAGE_STATES, default=None)
    version = field(data, "version", "int", required=False)
    with workspace().sessions.begin() as s:
        image = get_or_404(s, Image, image_id)
        if version is not None and version != image.version:
            current = {**image_item(image, image.dataset), "version": image.version}
            raise ApiError(409, f"image {image_id} was changed; reload it", current=current)
        if state == "empty":
            n = s.scalar(
                select(func.count(Box.id)).where(Box.image_id == image_id, Box.status == "accepted")
            )
            if n:
                raise invalid(
                    f"image {image_id} has {n} accepted box(es): delete them before marking "
                    "it empty (no objects)"
                )
        image.state = state
        image.updated_by = who
        s.flush()
        return jsonify({**image_item(image, image.dataset), "version": image.version})
