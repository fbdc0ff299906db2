"""Request bodies of ``/api/v1/openapi.json``: the fields each view reads with
:func:`labeler.web.errors.field`, with the limits the store checks. Keys a view does not
read are ignored, so the objects stay open."""

from __future__ import annotations

from labeler.accounts.credentials import MIN_PASSWORD
from labeler.prelabel.propagate import MAX_N
from labeler.store.accounts import MAX_NAME
from labeler.store.models import BOX_SOURCES
from labeler.store.queries import COLOUR
from labeler.web.errors import MAX_ID
from labeler.web.openapi.schemas import (
    GEOMETRY,
    HOTKEY,
    ID,
    LABEL_NAME,
    SCORE,
    TEXT,
    Schema,
    array,
    body,
    nullable,
    ref,
)


def _exemplar(*, image_required: bool) -> Schema:
    return body(
        {"image_id": ID, "label": {**TEXT, "description": "a label's name"}, **GEOMETRY},
        required=("image_id",) * image_required + ("label", "x", "y", "w", "h"),
        description="A region to match, by label name"
        + ("." if image_required else "; image_id defaults to the image of the URL."),
    )


def request_schemas() -> dict[str, Schema]:
    label_ref = {
        "label": {**TEXT, "description": "a label's name"},
        "label_id": {**ID, "description": "wins over label"},
    }
    exemplars = {
        "box_ids": array(ID, description="existing boxes to match"),
        "min_score": {**SCORE, "description": "cut on the calibrated score"},
    }
    either_label = [
        {"required": ["label"], "properties": {"label": {"type": "string"}}},
        {"required": ["label_id"], "properties": {"label_id": {"type": "integer"}}},
    ]
    return {
        "BoxCreate": body(
            {
                **GEOMETRY,
                **label_ref,
                "status": {**ref("BoxStatus"), "default": "accepted"},
                "source": {"type": "string", "enum": list(BOX_SOURCES), "default": "user"},
                "score": nullable(SCORE),
                "is_exemplar": {"type": "boolean", "default": False},
            },
            required=("x", "y", "w", "h"),
            anyOf=either_label,
        ),
        "BoxPatch": body(
            {
                **GEOMETRY,
                **label_ref,
                "status": ref("BoxStatus"),
                "score": nullable(SCORE),
                "is_exemplar": {"type": "boolean"},
                "version": ID,
            },
            required=("version",),
            strict=("is_exemplar",),
            description="Only the fields given change; a stale version is a 409 with current.",
        ),
        "DecideBoxes": body(
            {
                "ids": array(ID, minItems=1, maxItems=10_000),
                "status": ref("BoxStatus"),
                "versions": array(ID, description="one per id, in the same order"),
            },
            required=("ids", "status"),
        ),
        "ImageStateChange": body(
            {
                "state": ref("ImageState"),
                "version": ID,
                "comment": {**TEXT, "description": "with in_progress: a reviewer's send-back"},
            },
            required=("state",),
        ),
        "DeleteBox": body({"version": ID}),
        "LabelCreate": body(
            {
                "name": LABEL_NAME,
                "colour": {"type": "string", "pattern": COLOUR.pattern},
                "hotkey": {**nullable(HOTKEY), "description": "null: none; absent: next free"},
            },
            required=("name",),
        ),
        "LabelEdit": body(
            {
                "name": LABEL_NAME,
                "colour": {"type": "string", "pattern": COLOUR.pattern},
                "hotkey": {**nullable(HOTKEY), "description": "null removes it"},
            },
        ),
        "Exemplar": _exemplar(image_required=False),
        "PropagateExemplar": _exemplar(image_required=True),
        "FindSimilar": body(
            {
                **exemplars,
                "exemplars": array(ref("Exemplar")),
                "label": {
                    **TEXT,
                    "description": "with neither box_ids nor exemplars: this label's bank",
                },
            },
        ),
        "Propagate": body(
            {
                **exemplars,
                "exemplars": array(ref("PropagateExemplar")),
                "scope": {"type": "string", "enum": ["next", "all"], "default": "next"},
                "n": {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 10},
                "after_image_id": {
                    "type": "integer",
                    "minimum": -MAX_ID,
                    "maximum": MAX_ID,
                    "description": "start after this image id (default: the first "
                    "exemplar's image; 0 with the labels' boxes)",
                },
            },
            description="Without box_ids and exemplars, the labels' accepted boxes.",
        ),
        "UserCreate": body(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                "role": ref("Role"),
                "password": {"type": "string", "minLength": MIN_PASSWORD},
            },
            required=("name", "role", "password"),
        ),
        "Assign": body(
            {
                "to": TEXT,
                "images": {"type": "integer", "minimum": 1},
                "all_unassigned": {"type": "boolean"},
            },
            required=("to",),
            description="Exactly one of images (a number) and all_unassigned: true.",
        ),
    }
