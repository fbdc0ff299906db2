"""The tail of :meth:`labeler.matching.Matcher.candidates`: correlation peaks in, the
scored, filtered :class:`~labeler.matching.Candidates` out.

Boxes are clipped to the image and multiplied by the colour gate; those under the
threshold or overlapping an ``exclude`` box are dropped, then NMS; refinement (if any)
moves the survivors, and the same filters run again before the feature rows are built.
"""

from __future__ import annotations

import numpy as np

from labeler.matching.appearance import gate
from labeler.matching.bank import Template
from labeler.matching.border import clip_centred
from labeler.matching.candidates import Candidates, assemble
from labeler.matching.geometry import nms, overlaps_any
from labeler.matching.refine import refine_candidates
from labeler.matching.stretch import RefineGroup

EXCLUDE_IOU = 0.5
# The best this many candidates per target go on: a request shows at most 100, and the
# features (the crowd IoU is quadratic) of a low threshold on a large image would otherwise
# cost seconds and gigabytes (20,000 peaks on a 2560x1920 scene).
MAX_CANDIDATES = 1000


# Colour is measured for the best this many peaks by edge score first; then for all the
# rest if fewer than MAX_CANDIDATES were kept, else for twice as many more each round.
FIRST_MEASURED = 2000


def _measured(boxes, edge, colours, threshold, nms_iou):
    """Dark and light distances, gate and kept indices (:func:`_kept` of ``edge * gate``;
    peaks on excluded boxes were dropped before, by the matcher), measuring colour only as
    far as needed.

    The gate never raises a score, so a peak not yet measured scores at most its edge
    score: once :data:`MAX_CANDIDATES` are kept and the last scores above every
    unmeasured peak's edge, no unmeasured peak could enter (NMS keeps the best first and
    stops there). Until then more peaks are measured (all of them, at most one round
    later, where the cap is not reached). The result is the same as measuring
    all of them; on a crowded large image it skips most.
    """
    n = len(edge)
    by_edge = np.argsort(-edge, kind="stable")
    by_edge = by_edge[edge[by_edge] >= threshold]
    dark, light = np.full(n, np.inf), np.full(n, np.inf)
    done, chunk = 0, FIRST_MEASURED
    while True:
        new = by_edge[done : done + chunk]
        dark[new], light[new] = colours(new)
        done += len(new)
        g = gate(dark, light)
        scores = np.full(n, -np.inf)
        scores[by_edge[:done]] = (edge * g)[by_edge[:done]]
        order = _kept(boxes, scores, threshold, (), nms_iou)
        if done == len(by_edge):
            return dark, light, g, order
        if len(order) < MAX_CANDIDATES:  # the cap is not reached yet: measure the rest
            chunk = len(by_edge)
        elif scores[order[-1]] > edge[by_edge[done]]:
            return dark, light, g, order
        chunk *= 2


def _kept(boxes, scores, threshold, exclude, nms_iou) -> np.ndarray:
    """Indices of the boxes scoring >= ``threshold``, off every ``exclude`` box, after NMS."""
    idx = np.flatnonzero(scores >= threshold)
    if len(exclude) and len(idx):
        idx = idx[~overlaps_any(boxes[idx], exclude, EXCLUDE_IOU)]
    return idx[nms(boxes[idx], scores[idx], nms_iou, limit=MAX_CANDIDATES)]


def _group_size(t: Template) -> tuple[float, float]:
    """The template's size at scale 1: the exemplar group's box size."""
    return t.size[0] / t.scale, t.size[1] / t.scale


def select(
    raw: tuple,
    levels: dict,
    bank: list[Template],
    groups: dict[int, RefineGroup],
    *,
    width: int,
    height: int,
    threshold: float,
    exclude: np.ndarray,
    nms_iou: float,
) -> Candidates:
    """``raw`` peaks (``Matcher._candidates``) -> :class:`Candidates` of a
    ``width`` x ``height`` target; ``groups`` empty means no refinement."""
    full, edge, tidx, part, colours = raw
    if not len(full):
        return Candidates.empty()
    boxes = clip_centred(full, width, height)
    dark, light, g, order = _measured(boxes, edge, colours, threshold, nms_iou)
    arrays = (boxes, full, edge, g, dark, light, tidx, part)
    boxes, full, edge, g, dark, light, tidx, part = (a[order] for a in arrays)
    if groups:
        refined, texture = refine_candidates(bank, groups, levels, full, tidx)
        refined = np.where(refined < -0.5, edge, refined)
    else:
        refined, texture = edge.copy(), np.zeros(len(order))
    # The score stays the correlation stage's: the refined NCC (a feature)
    # ranked worse on blood cells (AUC 0.80 vs 0.84), better on synth.
    scores = edge * g
    boxes = clip_centred(full, width, height)
    # Refined duplicates converge on one object: a second NMS keeps the best.
    order = _kept(boxes, scores, threshold, exclude, nms_iou)
    labels = [bank[tidx[k]].label for k in order]
    area = full[order, 2] * full[order, 3]
    kept = boxes[order]
    cut = 1.0 - kept[:, 2] * kept[:, 3] / np.maximum(area, 1e-9)
    sizes = np.array([_group_size(bank[tidx[k]]) for k in order]).reshape(-1, 2)
    feats = assemble(
        boxes=kept,
        scores=np.clip(scores[order], 0.0, 1.0),
        labels=labels,
        edge=edge[order],
        refined=refined[order],
        gate=g[order],
        dark=dark[order],
        light=light[order],
        rel_size=full[order, 2:] / np.maximum(sizes, 1e-9),
        cut=cut,
        texture=texture[order],
        partial=part[order],
    )
    return Candidates(kept, np.clip(scores[order], 0.0, 1.0), tuple(labels), feats)
