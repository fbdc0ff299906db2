"""labeler.matching.profiles: box window features and the delta arithmetic of box regression."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from labeler.matching import profiles
from labeler.matching.geometry import iou_pairs
from labeler.matching.profiles import (
    FEATURE_COUNT,
    HOG_COUNT,
    apply_deltas,
    box_looks,
    box_profiles,
    deltas,
    jittered,
    planes,
)


def test_deltas_and_apply_deltas_are_inverse():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(0, 100, (50, 2)), rng.uniform(5, 60, (50, 2))])
    loose, t = jittered(truth, copies=3, rng=rng)
    assert len(loose) == 150 and np.array_equal(t, np.repeat(truth, 3, axis=0))
    assert 0.3 < iou_pairs(loose, t).mean() < 0.9  # really perturbed
    assert np.allclose(apply_deltas(loose, deltas(loose, t)), t)


@pytest.mark.parametrize("shape", [(120, 160), (120, 160, 3), (120, 160, 4)])
def test_profiles_have_one_row_per_box_for_every_image_kind(shape):
    img = np.zeros(shape, np.uint8)
    cv2.circle(img, (80, 60), 20, (200, 200, 200, 255), -1)
    boxes = np.array([[60, 40, 41, 41], [150, 110, 30, 30]])
    rows = box_profiles(planes(img), boxes)
    assert rows.shape == (2, FEATURE_COUNT) and np.isfinite(rows).all()
    same, looks = box_looks(planes(img), boxes)
    np.testing.assert_array_equal(same, rows)  # one sampling serves both
    assert looks.shape == (2, HOG_COUNT) and np.isfinite(looks).all()


def test_looks_of_a_whole_object_differ_from_a_half_box_more_than_from_a_bigger_object():
    def disc(r, shift=0.0):
        img = np.full((300, 300), 40, np.uint8)
        cv2.circle(img, (150, 150), r, 220, -1)
        box = np.array([[150 - r + shift * 2 * r, 150 - r, 2 * r, 2 * r]])
        return box_looks(planes(img), box)[1][0]

    small, big, half = disc(20), disc(60), disc(60, shift=0.5)
    assert np.linalg.norm(small - big) < 0.5 * np.linalg.norm(big - half)


def test_profiles_tell_a_misplaced_box_more_than_an_object_size():
    def disc(r, shift=0.0):
        img = np.full((300, 300), 40, np.uint8)
        cv2.circle(img, (150, 150), r, 220, -1)
        box = np.array([[150 - r + shift * 2 * r, 150 - r, 2 * r, 2 * r]])
        return box_profiles(planes(img), box)[0]

    small, big, misplaced = disc(20), disc(60), disc(60, shift=0.25)
    assert np.abs(small - big).mean() < 0.5 * np.abs(big - misplaced).mean()


@pytest.mark.parametrize(
    ("box", "on_edges"),
    [
        ((100.0, 80.0, 60.0, 40.0), True),  # exactly the object
        ((109.0, 80.0, 60.0, 40.0), False),  # shifted by 15% of its width
        ((88.0, 72.0, 84.0, 56.0), False),  # 1.4 times too big
        ((94.0, 86.0, 48.0, 28.0), False),  # 0.8 times too small
    ],
)
def test_edge_fit_is_best_for_a_box_on_the_objects_edges(box, on_edges):
    """Strength at the box's sides is highest and the nearest strong edge is closest when
    the box is the object: what a loose box lacks, which the rankers can now see."""
    image = np.full((240, 320), 40, np.uint8)
    image[80:120, 100:160] = 200
    planes = profiles.planes(image)
    exact = profiles.edge_fit(profiles.box_profiles(planes, np.array([(100.0, 80.0, 60.0, 40.0)])))
    got = profiles.edge_fit(profiles.box_profiles(planes, np.array([box])))
    assert got.shape == (1, 2)
    if on_edges:
        assert got[0, 1] < 0.05
    else:
        assert got[0, 0] < exact[0, 0] and got[0, 1] > exact[0, 1]


def _warped_window(p: profiles.Planes, box) -> list[np.ndarray]:
    """One box's window by ``cv2.warpAffine``, as the sampler did box by box before."""
    size, window = profiles.SIZE, profiles.WINDOW
    x, y, w, h = box
    ww, hh = max(w, 1.0) * window, max(h, 1.0) * window
    k = int(np.clip(np.floor(np.log2(max(min(ww, hh) / size, 1.0))), 0, len(p.levels) - 1))
    f = 2.0**-k
    sx, sy = size / (ww * f), size / (hh * f)
    x0, y0 = (x + w / 2 - ww / 2) * f, (y + h / 2 - hh / 2) * f
    m = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]], np.float32)
    border = cv2.BORDER_REPLICATE
    return [cv2.warpAffine(a, m, (size, size), borderMode=border) for a in p.levels[k]]


def test_windows_sample_as_warp_affine_does_for_every_box_at_once():
    rng = np.random.default_rng(4)
    img = cv2.GaussianBlur(rng.integers(0, 255, (300, 400), dtype=np.uint8), (0, 0), 2)
    p = planes(img)
    # inside, hanging off each edge, tiny and larger than the image
    boxes = np.array(
        [
            [50, 40, 30, 20],
            [-15, 100, 40, 40],
            [380, 280, 50, 30],
            [200, 150, 2, 3],
            [-50, -50, 500, 400],
            [120.3, 80.7, 63.2, 91.9],
        ]
    )
    grey, gx, gy = profiles._windows(p, boxes)
    for i, box in enumerate(boxes):
        ref_grey, ref_gx, ref_gy = _warped_window(p, box)
        ref_grey = (ref_grey - ref_grey.mean()) / (ref_grey.std() + 1e-3)
        # warpAffine interpolates in fixed point (1/32 px): a few hundredths of a level
        np.testing.assert_allclose(grey[i], ref_grey, atol=0.05)
        scale = max(float(ref_gx.max()), float(ref_gy.max()), 1.0)
        np.testing.assert_allclose(gx[i] / scale, ref_gx / scale, atol=0.02)
        np.testing.assert_allclose(gy[i] / scale, ref_gy / scale, atol=0.02)


def test_no_boxes_give_empty_rows():
    p = planes(np.zeros((50, 60), np.uint8))
    rows, looks = box_looks(p, np.zeros((0, 4)))
    assert rows.shape == (0, FEATURE_COUNT) and looks.shape == (0, HOG_COUNT)


@pytest.mark.parametrize("x", [4.5, 18.5, 0.0, 7.0, 23.0, 22.999])
def test_interp_at_is_numpy_interp_row_by_row(x):
    rng = np.random.default_rng(11)
    fp = rng.normal(0, 3, (40, 24))
    fp[3, 4:6] = np.inf  # inf - inf: numpy's fallbacks for a NaN result
    fp[4, 18:20] = [np.inf, -np.inf]
    fp[5, :] = np.nan
    xp = np.arange(24, dtype=np.float64)
    want = np.array([np.interp(x, xp, row) for row in fp])
    got = profiles._interp_at(x, xp, fp)
    assert got.dtype == np.float64 and got.shape == (40,)
    assert np.array_equal(got, want, equal_nan=True)


def test_edge_fit_of_profiles_equals_that_of_looks():
    rng = np.random.default_rng(2)
    p = planes(rng.integers(0, 256, (120, 160), dtype=np.uint8))
    boxes = np.array([[10.0, 12.0, 40.0, 30.0], [60.5, 20.25, 50.0, 70.0]])
    rows = box_looks(p, boxes)[0]
    assert np.array_equal(box_profiles(p, boxes), rows)
    assert profiles.edge_fit(rows).shape == (2, 2)


def test_windows_of_all_levels_at_once_equal_those_of_hand_made_planes():
    # planes() lays the levels end to end; a Planes made from the level arrays alone
    # samples the same numbers (boxes of every level, some past the image edge).
    rng = np.random.default_rng(8)
    p = planes(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    assert all(np.shares_memory(a, p.flat) for level in p.levels for a in level)
    hand = profiles.Planes(tuple(tuple(a.copy() for a in level) for level in p.levels))
    boxes = np.column_stack(
        [rng.uniform(-40, 300, 50), rng.uniform(-40, 200, 50), rng.uniform(1, 250, (50, 2))]
    )
    for got, want in zip(profiles._windows(p, boxes), profiles._windows(hand, boxes), strict=True):
        assert got.tobytes() == want.tobytes()
