"""Box geometry: iou, iou_matrix, nms, overlaps_any (property tests with hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.matching import _overlaps, iou, iou_matrix, nms
from labeler.matching.geometry import as_boxes, box_inside, crowding, overlaps_any

coord = st.floats(min_value=-1000, max_value=1000, allow_nan=False, width=32)
side = st.floats(min_value=0.5, max_value=500, allow_nan=False, width=32)
box = st.tuples(coord, coord, side, side)
boxes = st.lists(box, min_size=0, max_size=25)


def test_iou_known_values():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges do not overlap
    assert iou((0, 0, 10, 10), (2, 2, 5, 5)) == pytest.approx(25 / 100)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@given(box, box)
def test_iou_symmetric_and_bounded(a, b):
    v = iou(a, b)
    assert 0.0 <= v <= 1.0 + 1e-9
    assert v == pytest.approx(iou(b, a), abs=1e-9)


@given(box)
def test_iou_self_is_one(a):
    assert iou(a, a) == pytest.approx(1.0)


@given(box, st.floats(min_value=-100, max_value=100), st.floats(min_value=-100, max_value=100))
def test_iou_translation_invariant(a, dx, dy):
    b = (a[0] + 3.0, a[1] - 2.0, a[2], a[3])
    shifted = [(p[0] + dx, p[1] + dy, p[2], p[3]) for p in (a, b)]
    assert iou(*shifted) == pytest.approx(iou(a, b), abs=1e-6)


@given(boxes, boxes)
@settings(max_examples=60)
def test_iou_matrix_matches_scalar_iou(a, b):
    m = iou_matrix(np.array(a).reshape(-1, 4), np.array(b).reshape(-1, 4))
    assert m.shape == (len(a), len(b))
    for i, ba in enumerate(a):
        for j, bb in enumerate(b):
            assert m[i, j] == pytest.approx(iou(ba, bb), abs=1e-9)


@given(boxes, st.floats(min_value=0.05, max_value=1.0))
@settings(max_examples=80)
def test_nms_keeps_no_overlapping_pair_and_covers_the_rest(bs, thr):
    b = np.array(bs, dtype=float).reshape(-1, 4)
    scores = np.random.default_rng(len(bs)).random(len(bs))
    keep = nms(b, scores, thr)
    assert len(set(keep.tolist())) == len(keep)
    kept = b[keep]
    # No two kept boxes overlap at >= thr ...
    m = iou_matrix(kept, kept)
    np.fill_diagonal(m, 0.0)
    assert (m < thr).all()
    # ... kept scores are in decreasing order ...
    assert (np.diff(scores[keep]) <= 0).all()
    # ... and every dropped box overlaps a kept box scoring at least as high.
    dropped = np.setdiff1d(np.arange(len(b)), keep)
    for i in dropped:
        ov = iou_matrix(b[i : i + 1], kept)[0]
        assert ((ov >= thr) & (scores[keep] >= scores[i])).any()


@given(boxes, st.floats(min_value=0.05, max_value=1.0), st.integers(min_value=1, max_value=8))
@settings(max_examples=60)
def test_nms_limit_is_the_head_of_the_full_result(bs, thr, limit):
    b = np.array(bs, dtype=float).reshape(-1, 4)
    scores = np.random.default_rng(len(bs)).random(len(bs))
    full = nms(b, scores, thr)
    assert nms(b, scores, thr, limit=limit).tolist() == full[:limit].tolist()


def _greedy_nms(b, scores, thr):
    """Greedy NMS the plain way: every kept box against every later box."""
    order = np.argsort(-scores, kind="stable")
    m = iou_matrix(b[order], b[order])
    keep, gone = [], np.zeros(len(b), bool)
    for i in range(len(b)):
        if not gone[i]:
            keep.append(i)
            gone |= m[i] >= thr
    return order[np.array(keep, np.int64)].tolist() if keep else []


@given(boxes, st.floats(min_value=0.05, max_value=1.0), st.integers(0, 3))
@settings(max_examples=80)
def test_nms_band_equals_comparing_every_pair(bs, thr, seed):
    # nms compares a kept box only with boxes whose x range may overlap its own; ties in
    # score (seed 0: all equal) keep input order either way.
    b = np.array(bs, dtype=float).reshape(-1, 4)
    scores = np.random.default_rng(seed).random(len(bs)) if seed else np.ones(len(bs))
    assert nms(b, scores, thr).tolist() == _greedy_nms(b, scores, thr)


def _crowd(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A crowded scene: peaks clustered on objects of mixed sizes (some tall boxes cross
    many strips, some empty), with plateaus of equal scores."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-50, 700, (n // 8 + 1, 2))
    at = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 6, (n, 2))
    size = rng.choice([4.0, 12.0, 30.0, 90.0], n)[:, None] * rng.uniform(0.7, 1.4, (n, 2))
    size[rng.random(n) < 0.03] = 0.0
    scores = np.round(rng.random(n), 2)  # ties keep input order
    return np.column_stack([at - size / 2, size]), scores


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("per_pass", [7, 1 << 20])
def test_nms_of_a_crowd_equals_comparing_every_pair(monkeypatch, seed, thr, per_pass):
    # Several strips, boxes replicated into each strip they reach, pairs compared in
    # passes of per_pass: still exactly the plain greedy result, and its head for a limit.
    monkeypatch.setattr(_overlaps, "PAIRS_PER_PASS", per_pass)
    b, scores = _crowd(seed, 400)
    want = _greedy_nms(b, scores, thr)
    assert len(want) > (1 if thr else 0)  # at 0 the first box suppresses every other
    assert nms(b, scores, thr).tolist() == want
    assert nms(b, scores, thr, limit=5).tolist() == want[:5]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_boxes_not_finite_neither_suppress_nor_are_suppressed(bad):
    b, scores = _crowd(5, 60)
    b[[3, 10, 40], [0, 3, 1]] = bad
    with np.errstate(invalid="ignore"):  # the reference's matrix meets inf - inf
        want = _greedy_nms(b, scores, 0.4)
    assert {3, 10, 40} <= set(want)  # kept, as comparisons with them are never true
    assert nms(b, scores, 0.4).tolist() == want
    assert np.isfinite(crowding(b)).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("per_pass", [7, 1 << 20])
def test_crowding_is_the_matrix_row_maximum_off_the_diagonal(monkeypatch, seed, per_pass):
    monkeypatch.setattr(_overlaps, "PAIRS_PER_PASS", per_pass)
    b, _ = _crowd(seed, 300)
    m = iou_matrix(b, b)
    np.fill_diagonal(m, 0.0)
    assert (m.max(axis=1) > 0).mean() > 0.5
    assert crowding(b).tolist() == m.max(axis=1).tolist()  # exactly: the same divisions


@given(boxes)
@settings(max_examples=60)
def test_crowding_of_few_boxes(bs):
    b = np.array(bs, dtype=float).reshape(-1, 4)
    m = iou_matrix(b, b)
    np.fill_diagonal(m, 0.0)
    want = m.max(axis=1).tolist() if len(b) else []
    assert crowding(b).tolist() == want


@given(boxes, boxes, st.floats(min_value=0.05, max_value=1.0))
@settings(max_examples=80)
def test_overlaps_any_equals_the_full_matrix(a, b, thr):
    a, b = np.array(a, float).reshape(-1, 4), np.array(b, float).reshape(-1, 4)
    want = (iou_matrix(a, b) >= thr).any(axis=1) if len(b) else np.zeros(len(a), bool)
    assert overlaps_any(a, b, thr).tolist() == want.tolist()


def test_overlaps_any_needs_a_positive_threshold():
    with pytest.raises(ValueError, match="positive min_iou"):
        overlaps_any([[0, 0, 1, 1]], [[0, 0, 1, 1]], 0.0)


def test_nms_empty_and_mismatch():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        nms([[0, 0, 1, 1], [1, 1, 1, 1]], [0.5], 0.5)


def test_as_boxes_and_box_inside():
    assert as_boxes([]).shape == (0, 4)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        as_boxes([[1, 2, 3]])
    assert box_inside((0, 0, 10, 10), 10, 10)
    assert not box_inside((1, 0, 10, 10), 10, 10)
    assert not box_inside((-0.5, 0, 4, 4), 10, 10)
