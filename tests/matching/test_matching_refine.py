"""labeler.matching: box refinement, candidate features, exemplars cut by the image edge."""

from __future__ import annotations

import cv2
import numpy as np

from labeler.matching import FEATURE_NAMES, Exemplar, Matcher, iou_matrix

EXEMPLAR = (50, 50, 60, 60)
# The exemplar's shape stretched: wider, taller, smaller, larger.
OBJECTS = [(200, 60, 72, 60), (350, 50, 60, 75), (100, 200, 50, 50), (300, 250, 80, 80)]


def scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(170, 8, (400, 600, 3)), 0, 255).astype(np.uint8)
    for x, y, w, h in [EXEMPLAR, *OBJECTS]:
        c = (x + w // 2, y + h // 2)
        cv2.ellipse(img, c, (w // 2, h // 2), 0, 0, 360, (60, 60, 200), -1)
        cv2.ellipse(img, c, (w // 4, h // 4), 0, 0, 360, (200, 220, 240), -1)
    return img


def best_ious(boxes: np.ndarray) -> np.ndarray:
    return iou_matrix(np.array(OBJECTS, float), boxes).max(axis=1)


def test_refinement_fits_stretched_objects_tightly():
    img = scene()
    ex = [Exemplar(img, EXEMPLAR, "ring")]
    raw = Matcher(ex, min_score=0.3).candidates(img, exclude=[EXEMPLAR])
    fine = Matcher(ex, min_score=0.3, refine=True).candidates(img, exclude=[EXEMPLAR])
    before, after = best_ious(raw.boxes), best_ious(fine.boxes)
    assert after.mean() >= 0.9
    assert after.min() >= 0.8
    assert after.mean() > before.mean() + 0.05


def test_candidates_carry_one_feature_row_each_and_match_agrees():
    img = scene(1)
    m = Matcher([Exemplar(img, EXEMPLAR, "ring")], min_score=0.3)
    c = m.candidates(img, exclude=[EXEMPLAR])
    assert c.features.shape == (len(c), len(FEATURE_NAMES))
    assert np.all(np.isfinite(c.features))
    np.testing.assert_allclose(c.features[:, 0], c.scores)
    assert np.all(np.diff(c.scores) <= 1e-12)  # best first
    props = m.match(img, exclude=[EXEMPLAR])
    np.testing.assert_allclose(np.array([p.box for p in props]), c.boxes)
    low = m.candidates(img, exclude=[EXEMPLAR], min_score=0.1)
    assert len(low) >= len(c)


def test_exemplar_cut_by_the_edge_marks_its_interior_matches_partial():
    img = scene(2)
    # The left half of a ring, cut by the image's left edge.
    c = (0, 330)
    cv2.ellipse(img, c, (30, 30), 0, 0, 360, (60, 60, 200), -1)
    cv2.ellipse(img, c, (15, 15), 0, 0, 360, (200, 220, 240), -1)
    cut = Exemplar(img, (0, 300, 30, 60), "ring")
    assert cut.clipped == (True, False, False, False)
    assert Exemplar(img, EXEMPLAR, "ring").clipped == (False,) * 4
    cands = Matcher([cut], min_score=0.2).candidates(img, exclude=[cut.box])
    col = FEATURE_NAMES.index("partial")
    at_edge = cands.boxes[:, 0] <= 0.15 * 30
    assert len(cands) and np.all(cands.features[~at_edge, col] == 1.0)
    assert np.all(cands.features[at_edge, col] == 0.0)
