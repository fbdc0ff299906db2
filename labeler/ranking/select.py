"""Which proposals to show, and which accepted boxes to keep as the exemplar bank.

:func:`choose` is the decision rule. Showing a proposal of acceptance
probability ``p`` costs one verify (``t_verify``) and, when accepted, saves
drawing that box (``t_draw``): expected saving ``p * t_draw - t_verify``.
An adjusted proposal (moved, then accepted) costs ``t_adjust`` instead of a
draw: pass ``p_useful`` (P(accepted or adjusted)) to count that saving too. Only
proposals with a saving above ``margin`` are shown, best first, at most
``cap``: with the sim's timings that is ``p > 1.6 / 7.0 = 0.23``. Given the
``boxes``, a candidate overlapping a better one shown (IoU >= :data:`SAME_OBJECT_IOU`)
must pay on acceptance alone: the object it would be moved onto is most likely the one
the better candidate takes, so its adjust saving is not there (two proposals of one
cell shown together cost 115 of 168 rejections over labelled objects on blood cells).

:func:`diverse_subset` picks up to ``k`` exemplars (the API's limit is 50)
from a label's accepted boxes by farthest-point sampling of standardised
descriptors (:func:`descriptors`: log size, aspect, mean colour), starting
at the most typical one: a bank that spans the label's sizes and looks
instead of 50 near-copies of the commonest kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labeler.matching import Exemplar, iou_matrix

T_DRAW, T_VERIFY, T_ADJUST = 7.0, 1.6, 3.5
CAP = 100
SAME_OBJECT_IOU = 0.3  # the annotator's adjust reach: a box this close may be moved onto it


def choose(
    p: np.ndarray,
    *,
    p_useful: np.ndarray | None = None,
    t_draw: float = T_DRAW,
    t_verify: float = T_VERIFY,
    t_adjust: float = T_ADJUST,
    margin: float = 0.0,
    cap: int = CAP,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the proposals to show, best first.

    Parameters
    ----------
    p : numpy.ndarray, shape (N,)
        Calibrated acceptance probabilities (:meth:`labeler.ranking.Ranker.predict`).
    p_useful : numpy.ndarray, shape (N,), optional
        Probabilities of "accepted or adjusted" (a second Ranker trained on
        that outcome). An adjust costs ``t_adjust`` instead of a draw, so the
        saving becomes ``p * t_draw + (p_useful - p) * (t_draw - t_adjust +
        t_verify) - t_verify``; without it adjusts count as rejects.
    t_draw, t_verify, t_adjust : float
        Seconds to draw a box by hand, to verify or reject a shown one, to
        move a shown one onto the object.
    margin : float
        Seconds of expected saving a proposal must beat.
    cap : int
        Hard limit per image and request.
    boxes : numpy.ndarray, shape (N, 4), optional
        The candidates' ``(x, y, w, h)``: with ``p_useful``, one overlapping a better one
        shown must be worth showing on acceptance alone.

    Returns
    -------
    numpy.ndarray, shape (K,), int64
    """
    p = np.asarray(p, np.float64).reshape(-1)
    alone = p * t_draw - t_verify  # the saving on acceptance alone
    saving = alone
    if p_useful is not None:
        adjust = np.clip(np.asarray(p_useful, np.float64).reshape(-1) - p, 0.0, 1.0)
        saving = saving + adjust * (t_draw - t_adjust + t_verify)
    idx = np.flatnonzero(saving > margin)
    idx = idx[np.argsort(-p[idx], kind="stable")]
    if boxes is not None and p_useful is not None and len(idx) > 1:
        pays_alone = alone > margin
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        near = iou_matrix(b[idx], b[idx]) >= SAME_OBJECT_IOU
        kept: list[int] = []  # positions in idx
        for k, i in enumerate(idx):
            if pays_alone[i] or not near[k, kept].any():
                kept.append(k)
        idx = idx[kept]
    return idx[: max(int(cap), 0)]


def threshold(*, t_draw: float = T_DRAW, t_verify: float = T_VERIFY, margin: float = 0.0) -> float:
    """The probability above which :func:`choose` shows a proposal."""
    return (t_verify + margin) / t_draw


def descriptors(exemplars: Sequence[Exemplar]) -> np.ndarray:
    """Per exemplar ``(log w, log h, mean B, G, R)`` (grey images repeat the grey), ``(N, 5)``."""
    rows = []
    for ex in exemplars:
        w, h = ex.size
        crop = ex.crop(color=True)
        rows.append([np.log(w), np.log(h), *crop.reshape(-1, 3).mean(axis=0) / 64.0])
    return np.array(rows, np.float64).reshape(-1, 5)


def diverse_subset(desc: np.ndarray, *, k: int = 50) -> np.ndarray:
    """Indices of up to ``k`` rows of ``desc`` ``(N, D)`` that spread over it.

    Deterministic: starts at the row nearest the column medians, then adds
    the row farthest from all chosen ones (ties: the lowest index). Columns
    are scaled by their spread so no unit dominates.
    """
    x = np.asarray(desc, np.float64)
    n = len(x)
    if n <= k:
        return np.arange(n)
    if k <= 0:
        return np.zeros(0, np.int64)
    spread = x.std(axis=0)
    x = (x - np.median(x, axis=0)) / np.where(spread > 1e-9, spread, 1.0)
    first = int(np.argmin((x * x).sum(axis=1)))
    chosen = [first]
    dist = ((x - x[first]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((x - x[nxt]) ** 2).sum(axis=1))
    return np.array(chosen, np.int64)
