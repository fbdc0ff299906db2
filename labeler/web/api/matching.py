"""Find similar (this image, synchronous) and Propagate (other images, background job).

The matching and the proposal rules live in :mod:`labeler.prelabel.interactive` and
:mod:`labeler.prelabel.propagate`; these views parse the request and shape the answer.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from labeler.prelabel import interactive, propagate
from labeler.store import jobs
from labeler.store.models import Job
from labeler.store.queries import require
from labeler.web.common import user, workspace
from labeler.web.errors import ApiError, field, is_id, json_body
from labeler.web.shapes import box_json

bp = Blueprint("matching", __name__)


def _exemplar_args(data: dict, *, default_image: bool) -> dict:
    """``box_ids`` and ``exemplars`` type-checked (400); the store checks what they name."""
    box_ids = field(data, "box_ids", "list", required=False, default=[])
    for box_id in box_ids:
        if not is_id(box_id):
            raise ApiError(400, f"box_ids must be integers, got {box_id!r}")
    exemplars = []
    for i, ex in enumerate(field(data, "exemplars", "list", required=False, default=[])):
        if not isinstance(ex, dict):
            raise ApiError(400, f"exemplars[{i}] must be an object")
        exemplars.append(
            {
                "image_id": field(ex, "image_id", "int", required=not default_image),
                "label": field(ex, "label", "str"),
                **{k: field(ex, k, "number") for k in ("x", "y", "w", "h")},
            }
        )
    return {"box_ids": box_ids, "exemplars": exemplars}


def _min_score(data: dict) -> float | None:
    """A cut on the calibrated score; without one the expected-saving rule alone decides."""
    return field(data, "min_score", "number", required=False, default=None)


@bp.post("/images/<int:image_id>/find-similar")
def find_similar(image_id: int):
    """Exemplars -> new proposals on this image (``proposals``), its undecided matcher
    proposals that a more probable candidate moved (``updated``), and how many more were
    worth showing but are held back until the label's proposals are accepted
    (``held_back``); ``removed`` stays empty (nothing undecided is deleted)."""
    data = json_body()
    found = interactive.find_similar(
        workspace(),
        image_id=image_id,
        who=user(),
        min_score=_min_score(data),
        label=field(data, "label", "str", required=False),
        **_exemplar_args(data, default_image=True),
    )
    return jsonify(
        {
            "proposals": [box_json(b) for b in found.new],
            "updated": [box_json(b) for b in found.updated],
            "removed": [],
            "held_back": found.held_back,
        }
    )


def job_json(job: Job) -> dict:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "error": job.error,
    }


@bp.post("/datasets/<int:dataset_id>/propagate")
def start_propagate(dataset_id: int):
    """``{exemplars | box_ids, scope: next|all, n?, min_score?, after_image_id?}`` ->
    ``{job_id}`` (202); the job runs in the server's :class:`JobRunner` thread."""
    data = json_body()
    who = user()
    with workspace().sessions.begin() as s:
        job = propagate.create_job(
            s,
            dataset_id=dataset_id,
            who=who,
            min_score=_min_score(data),
            scope=field(data, "scope", "str", required=False, default="next"),
            n=field(data, "n", "int", required=False, default=10),
            after_image_id=field(data, "after_image_id", "int", required=False),
            **_exemplar_args(data, default_image=False),
        )
        job_id = job.id
    current_app.extensions["labeler.jobs"].submit(job_id)
    return jsonify({"job_id": job_id}), 202


@bp.get("/jobs/<int:job_id>")
def show_job(job_id: int):
    with workspace().sessions() as s:
        return jsonify(job_json(require(s, Job, job_id)))


@bp.post("/jobs/<int:job_id>/cancel")
def cancel_job(job_id: int):
    with workspace().sessions.begin() as s:
        return jsonify(job_json(jobs.cancel_job(s, job_id)))
