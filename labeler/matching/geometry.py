"""Box geometry shared by the matcher and by other areas (prelabel, export, web).

Every box here is ``(x, y, w, h)`` in pixels: ``x`` is the column and ``y`` the
row of the top-left corner, origin at the top-left of the image, ``w``/``h``
the width and height. Arrays of boxes have shape ``(N, 4)`` with the same
column order. Functions are pure: inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labeler.matching._overlaps import box_pairs

XYWH = tuple[float, float, float, float]
"""A box ``(x, y, w, h)`` in pixels (``x`` = column of the top-left corner)."""


def as_boxes(boxes: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Return ``boxes`` as a float64 array of shape ``(N, 4)``.

    Parameters
    ----------
    boxes : array_like, shape (N, 4) or (0,)
        Boxes as ``(x, y, w, h)`` rows. An empty sequence gives shape ``(0, 4)``.

    Raises
    ------
    ValueError
        If the input cannot be read as ``(N, 4)``.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (x, y, w, h), got {arr.shape}")
    return arr


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes.

    Returns 0.0 when the boxes do not overlap or when both are empty.
    """
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = max(aw, 0.0) * max(ah, 0.0) + max(bw, 0.0) * max(bh, 0.0) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between two sets of ``(x, y, w, h)`` boxes.

    Parameters
    ----------
    boxes_a : array_like, shape (N, 4)
    boxes_b : array_like, shape (M, 4)

    Returns
    -------
    numpy.ndarray, shape (N, M), float64
        ``out[i, j]`` is the IoU of ``boxes_a[i]`` and ``boxes_b[j]``.
    """
    a = as_boxes(boxes_a)
    b = as_boxes(boxes_b)
    ax0, ay0 = a[:, 0:1], a[:, 1:2]
    ax1, ay1 = ax0 + a[:, 2:3], ay0 + a[:, 3:4]
    bx0, by0 = b[:, 0], b[:, 1]
    bx1, by1 = bx0 + b[:, 2], by0 + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0.0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0.0, None)
    inter = iw * ih
    area_a = np.clip(a[:, 2:3], 0, None) * np.clip(a[:, 3:4], 0, None)
    area_b = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    union = area_a + area_b - inter
    # Empty boxes give union 0: define their IoU as 0 instead of dividing by zero.
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_pairs(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of ``boxes_a[i]`` with ``boxes_b[i]``, both ``(N, 4)`` ``(x, y, w, h)``: ``(N,)``."""
    a, b = as_boxes(boxes_a), as_boxes(boxes_b)
    lo = np.maximum(a[:, :2], b[:, :2])
    hi = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _x_ranges(b: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> tuple:
    """``b`` ``(M, 4)`` sorted on x (``by_x``), and per x range ``[x0, x1)`` ``(N,)`` the
    slice ``lo:hi`` of ``by_x`` holding every box of ``b`` that may overlap it in x."""
    by_x = np.argsort(b[:, 0], kind="stable")
    xs = b[by_x, 0]
    # b overlaps [x0, x1) only if x0 - b.w < b.x0 < x1, and b.w <= the widest b.
    lo = np.searchsorted(xs, x0 - max(float(b[:, 2].max()), 0.0), side="left")
    hi = np.searchsorted(xs, x1, side="right")
    return by_x, lo, hi


def x_band(boxes_a: np.ndarray, boxes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` of ``boxes_a`` ``(N, 4)`` and ``boxes_b`` ``(M, 4)`` whose x ranges may
    overlap: a superset of the overlapping pairs, found by sorting ``boxes_b`` on ``x``.

    Every pair left out has IoU 0, so a test of IoU above a positive threshold need only
    look at these: on a large image they are a few per box instead of ``N x M``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray), each shape (P,), int64
        Row indices into ``boxes_a`` and into ``boxes_b``.
    """
    a, b = as_boxes(boxes_a), as_boxes(boxes_b)
    if not len(a) or not len(b):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    by_x, lo, hi = _x_ranges(b, a[:, 0], a[:, 0] + a[:, 2])
    counts = np.maximum(hi - lo, 0)
    rows = np.repeat(np.arange(len(a)), counts)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return rows, by_x[starts + np.arange(len(rows))]


def overlaps_any(boxes: np.ndarray, others: np.ndarray, min_iou: float) -> np.ndarray:
    """Which ``boxes`` ``(N, 4)`` have IoU ``>= min_iou`` (> 0) with one of ``others``
    ``(M, 4)``: ``(N,)`` bool, the same as ``iou_matrix(boxes, others).max(axis=1) >=
    min_iou`` without the ``N x M`` matrix."""
    if min_iou <= 0:
        raise ValueError(f"overlaps_any needs a positive min_iou, got {min_iou}")
    a, b = as_boxes(boxes), as_boxes(others)
    out = np.zeros(len(a), bool)
    i, j = x_band(a, b)
    if len(i):
        out[i[iou_pairs(a[i], b[j]) >= min_iou]] = True
    return out


HEAD_PER_KEPT = 4


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, *, limit: int | None = None
) -> np.ndarray:
    """Greedy non-maximum suppression.

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
        ``(x, y, w, h)`` boxes.
    scores : array_like, shape (N,)
        Higher is better.
    iou_threshold : float
        A box is suppressed when its IoU with an already kept box is
        ``>= iou_threshold``.
    limit : int, optional
        Stop once this many boxes are kept: the first ``limit`` of the full result, found
        among the best boxes only (a greedy decision depends on better boxes alone).

    Returns
    -------
    numpy.ndarray, shape (K,), int64
        Indices of the kept boxes, best score first (ties keep input order).
    """
    b = as_boxes(boxes)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"nms: {len(b)} boxes but {len(s)} scores")
    order = np.argsort(-s, kind="stable")
    # With a limit, the greedy pass runs over the best HEAD_PER_KEPT x limit boxes first,
    # doubled until it keeps ``limit`` or has seen them all.
    head = len(b) if limit is None else min(len(b), max(HEAD_PER_KEPT * limit, 256))
    while True:
        keep = _greedy(b[order[:head]], iou_threshold, limit)
        if head == len(b) or len(keep) == limit:
            return order[keep]
        head = min(len(b), 2 * head)


def _greedy(sb: np.ndarray, iou_threshold: float, limit: int | None) -> np.ndarray:
    """Greedy NMS of ``sb`` ``(N, 4)``, sorted best first: positions of the kept boxes.

    Every overlapping pair is found at once (:func:`_suppressing`); the greedy pass then
    only marks each kept box's list. A loop of array operations per kept box cost most of
    a find-similar request on images of many small objects (400 kept of 600 boxes)."""
    n = len(sb)
    first, later = _suppressing(sb, iou_threshold)
    at = np.argsort(first, kind="stable")
    later = later[at]
    starts = np.searchsorted(first[at], np.arange(n + 1)).tolist()
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) == limit:
            break
        if starts[i + 1] > starts[i]:
            suppressed[later[starts[i] : starts[i + 1]]] = True
    return np.asarray(keep, dtype=np.int64)


def _suppressing(sb: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of ``sb`` ``(N, 4)`` with IoU ``>= iou_threshold``: the
    better box ``i`` suppresses ``j`` if kept (with ``iou_threshold <= 0`` every pair is
    compared, not only those that intersect)."""
    firsts, laters = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for i, j, inter, union in box_pairs(sb, every=iou_threshold <= 0):
        # IoU >= t  <=>  inter >= t * union (and union > 0: empty boxes never overlap)
        hit = (inter >= iou_threshold * union) & (union > 0)
        firsts.append(i[hit])
        laters.append(j[hit])
    return np.concatenate(firsts), np.concatenate(laters)


def crowding(boxes: np.ndarray) -> np.ndarray:
    """Each box's largest IoU with another of ``boxes`` ``(N, 4)`` (0 when alone): ``(N,)``,
    the row maxima of :func:`iou_matrix` without its diagonal, from the intersecting pairs
    only (a thousand candidates on a large image make a matrix of a million)."""
    b = as_boxes(boxes)
    out = np.zeros(len(b))
    for i, j, inter, union in box_pairs(b):
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        np.maximum.at(out, i, iou)
        np.maximum.at(out, j, iou)
    return out


def box_inside(box: Sequence[float], width: int, height: int) -> bool:
    """True when ``(x, y, w, h)`` lies fully inside a ``width`` x ``height`` image."""
    x, y, w, h = (float(v) for v in box)
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height


def clip_box(
    box: Sequence[float], *, width: int, height: int, min_size: float = 1.0
) -> XYWH | None:
    """``(x, y, w, h)`` clipped to a ``width`` x ``height`` image.

    The one clipping rule: stored boxes may overhang the edge (by half a pixel when drawn,
    by half the template when matched), proposals and exports keep the part inside.
    Returns ``None`` when less than ``min_size`` px of width or height is left.
    """
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 - x0 < min_size or y1 - y0 < min_size:
        return None
    return x0, y0, x1 - x0, y1 - y0
