"""Which pairs of boxes may intersect, without comparing every pair: the sweep behind
:func:`labeler.matching.geometry.nms` and :func:`~labeler.matching.geometry.crowding`.

Boxes are ``(x, y, w, h)`` rows ``(N, 4)`` (``x`` the column of the top-left corner). The
image is cut into strips of rows a median box high; each box is entered in every strip it
reaches. Within a strip, sorted on the left edge, an entry is paired with the later entries
that start left of its right edge, and a pair is kept in the one strip where its
intersection starts. On a crowd of matcher peaks that compares a few dozen pairs per box
instead of all of them (or of a band of columns: boxes a fifth of the image wide meet a
fifth of the others there).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

PAIRS_PER_PASS = 1 << 20  # candidate pairs compared at once: bounds memory on large images

# Per pass: first and second box (i < j), intersection area and union area, each (P,).
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def box_pairs(boxes: np.ndarray, *, every: bool = False) -> Iterator[Pairs]:
    """The pairs of ``boxes`` ``(N, 4)`` that intersect (with some that do not), each
    once, in passes of at most :data:`PAIRS_PER_PASS`; ``every`` gives every pair.

    Areas are of the parts of ``w``, ``h`` above 0, intersections of the overlap's
    positive part: the values :func:`labeler.matching.geometry.iou_matrix` divides. A box
    with a coordinate not finite pairs with none (its IoU is 0 or undefined)."""
    finite = np.isfinite(boxes).all(axis=1)
    if finite.all():
        yield from _finite_pairs(boxes, every)
        return
    at = np.flatnonzero(finite)
    for i, j, inter, union in _finite_pairs(boxes[at], every):
        yield at[i], at[j], inter, union


def _finite_pairs(boxes: np.ndarray, every: bool) -> Iterator[Pairs]:
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    area = np.maximum(boxes[:, 2], 0) * np.maximum(boxes[:, 3], 0)
    box, strip, ends, high = _strips(x0, x1, y0, y1, sweep=not every)
    counts = ends - np.arange(len(box)) - 1  # the later entries each entry is paired with
    total = np.cumsum(counts)
    start = 0
    while start < len(box):
        stop = int(np.searchsorted(total, total[start] - counts[start] + PAIRS_PER_PASS))
        stop = min(max(stop, start + 1), len(box))
        c = counts[start:stop]
        e = np.repeat(np.arange(start, stop), c)
        f = e + 1 + np.arange(len(e)) - np.repeat(np.cumsum(c) - c, c)
        a, b = box[e], box[f]
        i, j = np.minimum(a, b), np.maximum(a, b)
        once = np.floor(np.maximum(y0[i], y0[j]) / high) == strip[e]
        i, j, start = i[once], j[once], stop
        iw = np.minimum(x1[i], x1[j]) - np.maximum(x0[i], x0[j])
        ih = np.minimum(y1[i], y1[j]) - np.maximum(y0[i], y0[j])
        inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
        yield i, j, inter, area[i] + area[j] - inter


def _strips(x0, x1, y0, y1, *, sweep: bool) -> tuple:
    """The strip entries of boxes with edges ``x0``, ``x1``, ``y0``, ``y1`` ``(N,)``, sorted
    by strip, then left edge: each entry's box and strip, the end (exclusive) of the
    entries it is paired with, and the strip height (``sweep`` False: one strip, every
    later entry)."""
    n = len(x0)
    heights = (y1 - y0)[y1 > y0]
    high = max(float(np.median(heights)), 1.0) if sweep and len(heights) else np.inf
    first = np.floor(y0 / high) if sweep else np.zeros(n)
    reach = (np.maximum(np.floor(y1 / high) - first, 0) + 1).astype(np.int64) if sweep else 1
    box = np.repeat(np.arange(n), reach)
    strip = first[box] + (np.arange(len(box)) - np.repeat(np.cumsum(reach) - reach, reach))
    if not len(box):
        return box, strip, np.zeros(0, np.int64), high
    left = float(min(x0.min(), x1.min()))
    x_span = 2.0 * (float(max(x0.max(), x1.max())) - left) + 2.0  # one strip's key range
    offset = (strip - strip.min()) * x_span  # sort key: strip first, then left edge
    order = np.argsort(offset + (x0[box] - left), kind="stable")
    box, strip, offset = box[order], strip[order], offset[order]
    if sweep:  # the entries of this strip that start left of this box's right edge (+ slack)
        key = offset + (x0[box] - left)
        ends = np.searchsorted(key, offset + (x1[box] - left) + 1e-6, side="left")
    else:
        ends = np.full(len(box), len(box))
    return box, strip, np.maximum(ends, np.arange(len(box)) + 1), high
