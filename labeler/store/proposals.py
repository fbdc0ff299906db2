"""Matcher proposals in the store: the one rule for which boxes new proposals must not
duplicate, and swapping an image's undecided matcher proposals for new ones.

The rule (batch prelabel, find similar and Propagate alike): a proposal overlapping
(IoU >= 0.5) a box that stays on the image is dropped, except that a *rejected* box only
rules out proposals of its own label (the annotator said "not an RBC", not "nothing").
Boxes that stay are the decided ones (accepted, rejected) and the proposals the swap does
not replace; the caller says which rows those are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labeler.matching import XYWH, Proposal, clip_box, iou_matrix
from labeler.store.models import Box, Image

DECIDED_IOU = 0.5
DECIDED = ("accepted", "rejected")
# (label name, status, (x, y, w, h)) of a box that stays while proposals are replaced
Standing = tuple[str, str, XYWH]


def blocks(status: str, label: str, proposal_label: str) -> bool:
    """Whether a staying box of ``label`` and ``status`` rules out a ``proposal_label`` one."""
    return status != "rejected" or label == proposal_label


def drop_decided(proposals: Sequence[Proposal], standing: Sequence[Standing]) -> list[Proposal]:
    """``proposals`` without those overlapping a staying box that :func:`blocks` them."""
    if not proposals or not standing:
        return list(proposals)
    ious = iou_matrix(
        np.array([p.box for p in proposals], dtype=np.float64),
        np.array([row[2] for row in standing], dtype=np.float64),
    )
    keep = []
    for i, p in enumerate(proposals):
        hit = [row for j, row in enumerate(standing) if ious[i, j] >= DECIDED_IOU]
        if not any(blocks(status, label, p.label) for label, status, _ in hit):
            keep.append(p)
    return keep


def matcher_exclusions(
    standing: Iterable[Standing], labels: Iterable[str]
) -> tuple[list[XYWH], dict[str, list[XYWH]]]:
    """The same rule as the matcher's ``exclude`` (every label) and per-label exclusions
    for ``labels``, so ruled-out places never even become candidates."""
    wanted = set(labels)
    every: list[XYWH] = []
    by_label: dict[str, list[XYWH]] = {}
    for label, status, box in standing:
        if status != "rejected":
            every.append(tuple(box))
        elif label in wanted:
            by_label.setdefault(label, []).append(tuple(box))
    return every, by_label


def _replaceable(box: Box, keep: Iterable[int]) -> bool:
    """Undecided matcher proposals are replaced by a new match; ``keep`` ids (exemplars
    that are themselves proposals) stay."""
    return box.status == "proposed" and box.source == "matcher" and box.id not in keep


def standing_boxes(session: Session, image_id: int, keep: Iterable[int] = ()) -> list[Standing]:
    """The image's boxes that a find-similar or Propagate swap leaves in place."""
    keep = set(keep)
    rows = session.scalars(select(Box).where(Box.image_id == image_id))
    return [(b.label.name, b.status, b.xywh) for b in rows if not _replaceable(b, keep)]


def replace_proposals(
    session: Session,
    image: Image,
    proposals: Sequence[Proposal],
    *,
    params: dict,
    who: str,
    keep: Iterable[int] = (),
    job_id: int | None = None,
) -> tuple[list[Box], list[int]]:
    """Replace the image's undecided matcher proposals by ``proposals``.

    Returns the new boxes and the ids of the removed ones. Proposals are clipped to the
    image (dropped under 1 px) and dropped by the one rule against the boxes that stay,
    checked here again in case an annotator decided on a box while matching ran.
    """
    keep = set(keep)
    boxes = list(session.scalars(select(Box).where(Box.image_id == image.id)))
    gone = [b for b in boxes if _replaceable(b, keep)]
    standing = [(b.label.name, b.status, b.xywh) for b in boxes if not _replaceable(b, keep)]
    old = [b.id for b in gone]
    if old:
        stmt = delete(Box).where(Box.id.in_(old)).execution_options(synchronize_session=False)
        session.execute(stmt)
        for box in gone:  # SQLite may hand their ids to the new boxes
            session.expunge(box)
    # The label object, not its id: the boxes stay readable (box.label) after the commit.
    labels = {lab.name: lab for lab in image.dataset.labels}
    new = []
    for p in drop_decided(proposals, standing):
        box = clip_box(p.box, width=image.width, height=image.height)
        if box is None or p.label not in labels:
            continue
        x, y, w, h = box
        new.append(
            Box(
                image_id=image.id,
                label=labels[p.label],
                x=x,
                y=y,
                w=w,
                h=h,
                status="proposed",
                source="matcher",
                score=p.score,
                params=params,
                job_id=job_id,
                created_by=who,
                updated_by=who,
            )  # fmt: skip
        )
    session.add_all(new)
    session.flush()
    return new, old
