"""Response schemas of ``/api/v1/openapi.json``: what :mod:`labeler.web.shapes` and the views
return. Each says exactly which keys come back (all required, no others), so a key renamed
in ``shapes.py`` fails ``tests/web/test_openapi_fuzz.py``."""

from __future__ import annotations

from labeler.store.models import BOX_SOURCES, IMAGE_STATES, JOB_STATUSES
from labeler.web.errors import CODES
from labeler.web.openapi.schemas import (
    COUNT,
    GEOMETRY,
    HOTKEY,
    ID,
    IMAGE_ITEM,
    SCORE,
    TEXT,
    Schema,
    array,
    closed,
    nullable,
    ref,
)


def response_schemas() -> dict[str, Schema]:
    return {
        "Label": closed(
            {"id": ID, "name": TEXT, "colour": TEXT, "hotkey": nullable(HOTKEY)},
            "A label class of a dataset; hotkey 1-9 in the annotator.",
        ),
        "Box": closed(
            {
                "id": ID,
                "image_id": ID,
                "label": TEXT,
                "label_id": ID,
                **GEOMETRY,
                "status": ref("BoxStatus"),
                "score": nullable(SCORE),
                "source": {"type": "string", "enum": list(BOX_SOURCES)},
                "version": {**ID, "description": "send it back to change the box"},
                "is_exemplar": {"type": "boolean"},
                "created_by": nullable(TEXT),
                "decided_by": nullable(TEXT),
            },
            "A box in pixels of the displayed image; a proposal is a box with status "
            "'proposed' (source 'matcher' or 'import', with a calibrated score).",
        ),
        "DatasetCounts": closed(
            {**{s: COUNT for s in IMAGE_STATES}, "total": COUNT, "undecided": COUNT},
            "Images per state, all images, and undecided (proposed) boxes.",
        ),
        "Dataset": closed(
            {
                "id": ID,
                "name": TEXT,
                "counts": ref("DatasetCounts"),
                "labels": array(ref("Label")),
            }
        ),
        "ImageItem": closed(IMAGE_ITEM, "An image in a listing."),
        "ImagePage": closed(
            {"items": array(ref("ImageItem")), "next": nullable({**ID, "minimum": 0})},
            "One page; pass next as ?page= for the following one (null: the last page).",
        ),
        "ImageStateResult": closed({**IMAGE_ITEM, "version": ID}),
        "SendBackNote": closed(
            {
                "comment": nullable(TEXT),
                "by": nullable(TEXT),
                "at": {"type": "string", "format": "date-time"},
            },
            "A reviewer's comment while the image is back with its annotator.",
        ),
        "Image": closed(
            {
                **IMAGE_ITEM,
                "dataset_id": ID,
                "version": ID,
                "prev_id": nullable(ID),
                "next_id": nullable(ID),
                "next_unfinished_id": nullable(ID),
                "assignee": nullable(TEXT),
                "review": nullable(ref("SendBackNote")),
                "boxes": array(ref("Box")),
            },
            "An image with its boxes and its neighbours in the dataset.",
        ),
        "ReviewItem": closed(
            {**IMAGE_ITEM, "dataset_id": ID, "version": ID, "finished_by": nullable(TEXT)}
        ),
        "ReviewPage": closed(
            {"items": array(ref("ReviewItem")), "next": nullable({**ID, "minimum": 0})}
        ),
        "Session": closed(
            {
                "csrf_token": {**TEXT, "description": "send as X-CSRF-Token on writes"},
                "user": TEXT,
                "role": ref("Role"),
                "mode": {"type": "string", "enum": ["single-user", "team"]},
            }
        ),
        "Job": closed(
            {
                "id": ID,
                "kind": TEXT,
                "status": {"type": "string", "enum": list(JOB_STATUSES)},
                "done": COUNT,
                "total": COUNT,
                "error": nullable(TEXT),
            }
        ),
        "JobStarted": closed({"job_id": ID}),
        "FindSimilarResult": closed(
            {
                "proposals": array(ref("Box"), description="new proposals on this image"),
                "updated": array(ref("Box"), description="undecided proposals moved"),
                "removed": array(ref("Box"), maxItems=0, description="always empty"),
                "held_back": {
                    **COUNT,
                    "description": "more worth showing, held back until the label's "
                    "proposals are accepted (a label earns large batches)",
                },
            }
        ),
        "DecideResult": closed({"boxes": array(ref("Box"))}),
        "Deleted": closed({"deleted": ref("Box")}, "The box as it was."),
        "User": closed({"name": TEXT, "role": ref("Role"), "tokens": COUNT}),
        "Removed": closed({"removed": TEXT}),
        "Assigned": closed({"assigned": array(ID), "to": TEXT}),
        "UserFigures": closed(
            {
                "name": TEXT,
                "role": nullable(ref("Role")),
                "images_done": COUNT,
                "boxes_drawn": COUNT,
                "proposals_accepted": COUNT,
                "proposals_rejected": COUNT,
                "approved": COUNT,
                "sent_back": COUNT,
                "images_reviewed": COUNT,
                "seconds_per_image": nullable({"type": "number", "minimum": 0}),
                "approval_rate": nullable({"type": "number", "minimum": 0, "maximum": 1}),
            },
            "role is null for a name in the history without an account.",
        ),
        "Error": {
            "type": "object",
            "description": "Every /api/ error. 409 conflicts add current (the row as it now "
            "is: a Box, an ImageStateResult, or null when it is gone); 403 forbidden adds "
            "role_needed and role.",
            "properties": {
                "error": {"type": "string", "examples": sorted(set(CODES.values()))},
                "detail": {**TEXT, "description": "what was wrong, naming the field"},
                "current": {"oneOf": [ref("Box"), ref("ImageStateResult"), {"type": "null"}]},
                "role_needed": nullable(ref("Role")),
                "role": TEXT,
            },
            "required": ["error", "detail"],
        },
    }
