"""Find similar (this image, synchronous) and Propagate (other images, background job)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select

from labeler.store.models import Dataset, Image, Job
from labeler.web import propose, thumbs
from labeler.web.api.images import readable
from labeler.web.common import box_json, get_or_404, user, workspace
from labeler.web.errors import field, invalid, json_body
from labeler.web.jobs import owner

bp = Blueprint("matching", __name__)

MAX_N = 100_000


@bp.post("/images/<int:image_id>/find-similar")
def find_similar(image_id: int):
    """Exemplars -> proposals on this image, replacing its undecided matcher proposals."""
    data = json_body()
    who = user()
    threshold = propose.min_score(data)
    ws = workspace()
    with ws.sessions() as s:
        image = get_or_404(s, Image, image_id)
        specs = propose.parse_exemplars(s, data, image.dataset, default_image=image)
        keep = {sp.box_id for sp in specs if sp.box_id is not None}
        matcher = propose.build_matcher(ws, s, specs, threshold, thumbs.decoded)
        exclude = propose.exclusions(s, image.id, keep)
        with readable(image):
            target = thumbs.decoded(ws, image)
    try:
        proposals = matcher.match(target, exclude=exclude)
    except ValueError as exc:  # e.g. an exemplar larger than this image
        raise invalid(f"image {image_id}: {exc}") from None
    params = {**matcher.params, "exemplars": [sp.as_json() for sp in specs]}
    with ws.sessions.begin() as s:
        image = get_or_404(s, Image, image_id)
        new, removed = propose.store_proposals(
            s, image, proposals, params=params, who=who, keep=keep
        )
        return jsonify({"proposals": [box_json(b) for b in new], "removed": removed})


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
def propagate(dataset_id: int):
    """``{exemplars | box_ids, scope: next|all, n?, min_score?, after_image_id?}`` -> ``{job_id}``.

    ``next``: the ``n`` (default 10) unfinished images after ``after_image_id``
    (default: the first exemplar's image); ``all``: every unfinished image
    but that one.
    """
    data = json_body()
    who = user()
    threshold = propose.min_score(data)
    scope = field(data, "scope", "str", required=False, default="next")
    if scope not in ("next", "all"):
        raise invalid(f"scope must be 'next' or 'all', got {scope!r}")
    n = field(data, "n", "int", required=False, default=10)
    if not 1 <= n <= MAX_N:
        raise invalid(f"n must be in [1, {MAX_N}], got {n}")
    ws = workspace()
    with ws.sessions.begin() as s:
        ds = get_or_404(s, Dataset, dataset_id)
        specs = propose.parse_exemplars(s, data, ds)
        after = field(data, "after_image_id", "int", required=False, default=specs[0].image_id)
        cond = propose.target_condition(ds.id, scope=scope, after=after)
        total = s.scalar(select(func.count()).select_from(Image).where(cond))
        job = Job(
            kind="propagate",
            dataset_id=ds.id,
            params={
                "exemplars": [sp.as_json() for sp in specs],
                "box_ids": [sp.box_id for sp in specs if sp.box_id is not None],
                "scope": scope,
                "n": n,
                "after_image_id": after,
                "min_score": threshold,
                "owner": owner(),
            },
            status="queued",
            total=min(total, n) if scope == "next" else total,
            created_by=who,
        )
        s.add(job)
        s.flush()
        job_id = job.id
    current_app.extensions["labeler.jobs"].submit(job_id)
    return jsonify({"job_id": job_id}), 202


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    with workspace().sessions() as s:
        return jsonify(job_json(get_or_404(s, Job, job_id)))


@bp.post("/jobs/<int:job_id>/cancel")
def cancel_job(job_id: int):
    with workspace().sessions.begin() as s:
        job = get_or_404(s, Job, job_id)
        if job.status in ("queued", "running"):
            job.status = "cancelled"  # the worker checks between images
        return jsonify(job_json(job))
