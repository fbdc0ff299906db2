"""Batch prelabel of a dataset: proposals on every image that is not done or empty.

Idempotent and resumable: each image's proposals are written in their own transaction
that first deletes the image's earlier undecided matcher proposals, so a re-run (after
a finished run or a kill) replaces rather than duplicates. Accepted and rejected boxes
are never touched; an accepted box (any label) or a rejected box of the same label
suppresses proposals overlapping it at IoU >= 0.5, checked again at write time in case
an annotator decided on a box while the run was going.
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from labeler.matching import Proposal, iou_matrix
from labeler.prelabel_exec import (
    ExemplarBank,
    ExemplarCrop,
    Result,
    RunSummary,
    Task,
    exemplar_crop,
    run_tasks,
)
from labeler.prelabel_exemplars import load_exemplar_file
from labeler.store.models import Box, Dataset, Image, Job, LabelClass, utcnow
from labeler.store.queries import ensure_labels, get_dataset
from labeler.workspace import Workspace

JOB_KIND = "prelabel"
DECIDED_IOU = 0.5
SKIP_STATES = ("done", "empty")


class PrelabelError(ValueError):
    """A prelabel run that cannot start (no exemplars, unknown label, bad file)."""


def dataset_exemplars(
    ws: Workspace, session: Session, dataset: Dataset, *, label: str | None = None
) -> list[ExemplarCrop]:
    """Crops of the dataset's accepted boxes flagged ``is_exemplar`` (of ``label``)."""
    from labeler.imageio import read_image

    query = (
        select(Box, Image.path)
        .join(Image, Box.image_id == Image.id)
        .where(Image.dataset_id == dataset.id, Box.status == "accepted", Box.is_exemplar)
        .order_by(Box.id)
    )
    crops = []
    cache: dict[str, np.ndarray] = {}
    for box, path in session.execute(query):
        if label is not None and box.label.name != label:
            continue
        if path not in cache:
            cache[path] = read_image(ws.abspath(path))
        ref = {"box_id": box.id, "image": path, "box": list(box.xywh), "label": box.label.name}
        try:
            crops.append(exemplar_crop(cache[path], box.xywh, box.label.name, ref=ref))
        except ValueError as exc:
            raise PrelabelError(f"exemplar box {box.id} on {path}: {exc}") from exc
    if not crops:
        which = f" of label {label!r}" if label else ""
        raise PrelabelError(
            f"dataset {dataset.name!r} has no exemplar boxes{which} (accepted boxes flagged "
            f"as exemplars): mark one in the web UI or pass --exemplars FILE.json"
        )
    return crops


def plan_tasks(
    session: Session, ws: Workspace, dataset: Dataset, labels: Sequence[str]
) -> list[Task]:
    """One task per image not done/empty, with its decided boxes as exclusions."""
    images = session.execute(
        select(Image.id, Image.path)
        .where(Image.dataset_id == dataset.id, Image.state.not_in(SKIP_STATES))
        .order_by(Image.id)
    ).all()
    accepted: dict[int, list] = defaultdict(list)
    rejected: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    decided = session.execute(
        select(Box.image_id, LabelClass.name, Box.x, Box.y, Box.w, Box.h, Box.status)
        .join(LabelClass, Box.label_id == LabelClass.id)
        .join(Image, Box.image_id == Image.id)
        .where(Image.dataset_id == dataset.id, Box.status.in_(("accepted", "rejected")))
    )
    for image_id, label, x, y, w, h, status in decided:
        if status == "accepted":
            accepted[image_id].append((x, y, w, h))
        elif label in labels:
            rejected[image_id][label].append((x, y, w, h))
    return [
        Task(
            id=image_id,
            path=str(ws.abspath(path)),
            exclude=tuple(accepted.get(image_id, ())),
            exclude_by_label={k: tuple(v) for k, v in rejected.get(image_id, {}).items()},
        )
        for image_id, path in images
    ]


def undecided(proposals: Sequence[Proposal], decided: Sequence[tuple]) -> list[Proposal]:
    """Drop proposals overlapping (IoU >= 0.5) an accepted box of any label or a rejected
    box of their label. ``decided``: ``(label, status, (x, y, w, h))`` rows."""
    if not proposals or not decided:
        return list(proposals)
    ious = iou_matrix(
        np.array([p.box for p in proposals], dtype=np.float64),
        np.array([d[2] for d in decided], dtype=np.float64),
    )
    keep = []
    for i, p in enumerate(proposals):
        hit = [d for j, d in enumerate(decided) if ious[i, j] >= DECIDED_IOU]
        if not any(status == "accepted" or label == p.label for label, status, _ in hit):
            keep.append(p)
    return keep


def store_result(
    session: Session,
    result: Result,
    *,
    job_id: int,
    label_ids: dict[str, int],
    params: dict,
    user: str,
) -> list[Proposal] | None:
    """Replace one image's undecided matcher proposals of the run's labels (``label_ids``)
    by ``result``'s; the caller commits.

    Returns the proposals stored, or None when the image was finished (done/empty) or
    deleted meanwhile (then nothing is changed).
    """
    image = session.get(Image, result.id, with_for_update=True)  # serialises runs (PostgreSQL)
    if image is None or image.state in SKIP_STATES:
        return None
    decided = session.execute(
        select(LabelClass.name, Box.status, Box.x, Box.y, Box.w, Box.h)
        .join(LabelClass, Box.label_id == LabelClass.id)
        .where(Box.image_id == image.id, Box.status.in_(("accepted", "rejected")))
    )
    rows = [(label, status, (x, y, w, h)) for label, status, x, y, w, h in decided]
    keep = undecided(result.proposals, rows)
    session.execute(
        delete(Box).where(
            Box.image_id == image.id,
            Box.status == "proposed",
            Box.source == "matcher",
            # a run restricted to some labels keeps the other labels' proposals
            Box.label_id.in_(list(label_ids.values())),
        )
    )
    now = utcnow()
    if keep:
        session.execute(
            insert(Box),
            [
                {
                    "image_id": image.id,
                    "label_id": label_ids[p.label],
                    "x": p.box[0],
                    "y": p.box[1],
                    "w": p.box[2],
                    "h": p.box[3],
                    "status": "proposed",
                    "source": "matcher",
                    "score": p.score,
                    "params": params[p.label],
                    "job_id": job_id,
                    "is_exemplar": False,
                    "created_at": now,
                    "created_by": user,
                    "updated_at": now,
                    "updated_by": user,
                    "version": 1,
                }
                for p in keep
            ],
        )
    return keep


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(session: Session, dataset_id: int) -> int:
    """Mark this host's prelabel jobs left 'running' by a process that is gone as failed."""
    host = socket.gethostname()
    jobs = session.scalars(
        select(Job).where(
            Job.kind == JOB_KIND, Job.dataset_id == dataset_id, Job.status == "running"
        )
    ).all()
    n = 0
    for job in jobs:
        pid = (job.params or {}).get("pid")
        if (job.params or {}).get("host") == host and isinstance(pid, int) and not _pid_alive(pid):
            job.status, job.error = "failed", f"interrupted: process {pid} ended before finishing"
            n += 1
    return n


def prelabel(
    ws: Workspace,
    dataset_name: str,
    *,
    label: str | None = None,
    exemplars: str | Path | None = None,
    min_score: float = 0.5,
    workers: int | None = None,
    dask: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> tuple[int, RunSummary]:
    """Propose boxes on every image of ``dataset_name`` that is not done or empty.

    Parameters
    ----------
    ws : Workspace
    dataset_name : str
    label : str, optional
        Use only this label's exemplars.
    exemplars : path-like, optional
        A JSON exemplar file instead of the dataset's exemplar boxes; a relative
        ``image`` is looked up in the dataset's images/ folder, then beside the file.
    min_score : float
        Matcher score threshold (NCC, 0..1).
    workers, dask
        See :func:`labeler.prelabel_exec.run_tasks`.
    on_start : callable, optional
        Called with the number of images to match, before matching starts.
    on_result : callable, optional
        Called with each :class:`Result` once it is committed (progress bars).

    Returns
    -------
    (job_id, RunSummary)
    """
    user = ws.user
    with ws.sessions.begin() as s:
        dataset = get_dataset(s, dataset_name)
        if exemplars is not None:
            exemplars = Path(exemplars)
            crops = load_exemplar_file(
                exemplars,
                search_dirs=[ws.dataset_dir(dataset.name) / "images", exemplars.resolve().parent],
                label=label,
                ref_root=ws.root,
            )
        else:
            crops = dataset_exemplars(ws, s, dataset, label=label)
        bank = ExemplarBank(tuple(crops), min_score=min_score)
        params = {lab: bank.params(lab) for lab in bank.labels}
        label_ids = {lc.name: lc.id for lc in ensure_labels(s, dataset, bank.labels)}
        tasks = plan_tasks(s, ws, dataset, bank.labels)
        n_images = s.scalar(
            select(func.count()).select_from(Image).where(Image.dataset_id == dataset.id)
        )
        mark_interrupted(s, dataset.id)
        job = Job(
            kind=JOB_KIND,
            dataset_id=dataset.id,
            status="running",
            total=len(tasks),
            created_by=user,
            params={
                **bank.params(),
                "label": label,
                "exemplar_file": str(exemplars) if exemplars else None,
                "workers": workers,
                "dask": dask,
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        s.add(job)
        s.flush()
        job_id = job.id
    summary = RunSummary(skipped=n_images - len(tasks), proposals=dict.fromkeys(bank.labels, 0))
    start = time.perf_counter()
    status, error = "done", None
    try:
        if on_start is not None:
            on_start(len(tasks))
        for result in run_tasks(bank, tasks, workers=workers, dask=dask):
            with ws.sessions.begin() as s:
                stored = None
                if result.error is None:
                    stored = store_result(
                        s, result, job_id=job_id, label_ids=label_ids, params=params, user=user
                    )
                s.execute(update(Job).where(Job.id == job_id).values(done=Job.done + 1))
            if stored is None and result.error is None:
                summary.skipped += 1
            else:
                summary.add(result, stored)
            if on_result is not None:
                on_result(result)
        if summary.failed:
            status = "failed"
            error = "\n".join(f"{path}: {err}" for path, err in summary.failed)
    except BaseException as exc:
        status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary.seconds = time.perf_counter() - start
        with ws.sessions.begin() as s:
            s.execute(update(Job).where(Job.id == job_id).values(status=status, error=error))
    return job_id, summary
