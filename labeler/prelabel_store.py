"""The database side of ``labeler prelabel``: what to match, and writing what was found.

Each image's proposals are written in their own transaction that first deletes the
image's earlier undecided matcher proposals, so a re-run replaces rather than duplicates.
Accepted and rejected boxes are never touched; proposals overlapping (IoU >= 0.5) an
accepted box of any label or a rejected box of the same label are dropped, once before
matching (as the matcher's ``exclude``) and again at write time, in case an annotator
decided on a box while the run was going.
"""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from labeler.matching import Proposal, iou_matrix
from labeler.prelabel_exec import Result, Task
from labeler.store.models import Box, Dataset, Image, Job, LabelClass, utcnow
from labeler.workspace import Workspace

JOB_KIND = "prelabel"
DECIDED_IOU = 0.5
SKIP_STATES = ("done", "empty")


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
    # Row lock: two runs writing one image serialise (PostgreSQL; SQLite locks the file).
    state = session.scalar(select(Image.state).where(Image.id == result.id).with_for_update())
    if state is None or state in SKIP_STATES:
        return None
    decided = session.execute(
        select(LabelClass.name, Box.status, Box.x, Box.y, Box.w, Box.h)
        .join(LabelClass, Box.label_id == LabelClass.id)
        .where(Box.image_id == result.id, Box.status.in_(("accepted", "rejected")))
    )
    rows = [(label, status, (x, y, w, h)) for label, status, x, y, w, h in decided]
    keep = undecided(result.proposals, rows)
    session.execute(
        delete(Box).where(
            Box.image_id == result.id,
            Box.status == "proposed",
            Box.source == "matcher",
            # a run restricted to some labels keeps the other labels' proposals
            Box.label_id.in_(list(label_ids.values())),
        )
    )
    now = utcnow()
    if keep:
        session.execute(
            insert(Box.__table__),  # Core executemany: the ORM bulk path costs 1 ms a row
            [
                {
                    "image_id": result.id,
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
