"""labeler.matching.appearance: the fast window gather and masks give, bit for bit, the
distances of the plain definition (one plane at a time, an explicit in-image mask)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from labeler.matching.appearance import PART, ColourLevel, _chroma_distances, colour_template


def _reference(planes, tpl, size, rows, cols):
    """The distances as the matcher computed them before the gather was fused (kept here
    verbatim in substance: per-plane edge padding, a validity mask, np.where to +inf)."""
    h, w = size
    height, width = planes.shape[:2]
    n = len(rows)
    pad = 64  # more than any window here hangs off
    chans = [np.pad(planes[:, :, i], pad, mode="edge") for i in range(3)]
    grey = chans[0].copy()
    for ch in chans[1:]:
        grey += ch
    ri, ci = rows[:, None] + np.arange(h), cols[:, None] + np.arange(w)
    valid = ((ri >= 0) & (ri < height))[:, :, None] & ((ci >= 0) & (ci < width))[:, None, :]
    valid = valid.reshape(n, h * w)
    wins = [
        sliding_window_view(p, (h, w))[rows + pad, cols + pad].reshape(n, h * w)
        for p in [*chans, grey]
    ]
    g = np.where(valid, wins[-1], np.float32(np.inf))
    count = valid.sum(axis=1)
    k = np.maximum((count * PART).astype(np.int64), 1)
    ranked = np.sort(g, axis=1)
    at = np.arange(n)
    parts = []
    for sel in (
        valid & (g <= ranked[at, k - 1][:, None]),
        valid & (g >= ranked[at, np.maximum(count - k, 0)][:, None]),
    ):
        weights = sel.astype(np.float32)[:, None, :]
        total = np.column_stack([(weights @ ch[:, :, None])[:, 0, 0] for ch in wins[:-1]])
        colour = total.astype(np.float64) / np.maximum(weights.sum(axis=2), 1.0)
        parts.append(colour - colour.mean(axis=1, keepdims=True))
    return _chroma_distances(tpl, *parts)  # the unchanged tail: parts to distances


@pytest.mark.parametrize("size", [(8, 8), (11, 14), (24, 30)])
@pytest.mark.parametrize("inside", [True, False])
def test_distances_equal_the_plain_definition_bit_for_bit(size, inside):
    rng = np.random.default_rng(size[0] * 7 + inside)
    planes = rng.uniform(0, 255, (60, 80, 3)).astype(np.float32)
    h, w = size
    tpl = colour_template([planes[5 : 5 + h, 9 : 9 + w]])
    lo_r, hi_r = (0, 60 - h) if inside else (-h // 2, 60 - h // 2)
    lo_c, hi_c = (0, 80 - w) if inside else (-w // 2, 80 - w // 2)
    rows, cols = rng.integers(lo_r, hi_r + 1, 200), rng.integers(lo_c, hi_c + 1, 200)
    want = _reference(planes, tpl, size, rows, cols)
    level = ColourLevel(planes, (h // 3, w // 3))
    for got, ref in zip(level.distances(tpl, size, rows, cols), want, strict=True):
        assert got.tobytes() == ref.tobytes()
    # Rows are independent: one window alone gives its row of the batch.
    for k in (0, 57, 199):
        alone = level.distances(tpl, size, rows[k : k + 1], cols[k : k + 1])
        assert [a[0] for a in alone] == [d[k] for d in want]


def test_a_window_wholly_off_the_level_is_the_empty_window():
    planes = np.random.default_rng(9).uniform(0, 255, (20, 30, 3)).astype(np.float32)
    tpl = colour_template([planes[:8, :8]])
    rows, cols = np.array([-8, 2, 40]), np.array([3, -9, 2])
    want = _reference(planes, tpl, (8, 8), rows, cols)
    got = ColourLevel(planes).distances(tpl, (8, 8), rows, cols)
    assert [g.tobytes() for g in got] == [w.tobytes() for w in want]
