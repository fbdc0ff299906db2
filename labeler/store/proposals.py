"""Matcher proposals in the store: the one rule for which boxes new proposals must not
duplicate.

The rule (batch prelabel, find similar and Propagate alike): a proposal overlapping
(IoU >= 0.5) a box that stays on the image is dropped, except that a *rejected* box only
rules out proposals of its own label (the annotator said "not an RBC", not "nothing").
The caller says which boxes stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from labeler.matching import XYWH, Proposal, iou_matrix

DECIDED_IOU = 0.5
DECIDED = ("accepted", "rejected")
# (label name, status, (x, y, w, h)) of a box that stays on the image
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
