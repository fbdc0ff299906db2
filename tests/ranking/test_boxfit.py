"""labeler.ranking.boxfit: a per-label box regressor learnt from the annotator's own boxes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from labeler.matching.geometry import iou_pairs
from labeler.matching.profiles import apply_deltas, jittered, planes
from labeler.ranking.boxfit import ALPHAS, BoxFit, fit_rows


def scene(rng: np.random.Generator, n: int = 12, size=(480, 640)) -> tuple[np.ndarray, np.ndarray]:
    """A grey image of ``n`` bright discs of varied radius on noise, and their tight boxes."""
    img = rng.normal(60, 8, size).clip(0, 255).astype(np.uint8)
    boxes = []
    while len(boxes) < n:
        r = int(rng.integers(10, 30))
        cx, cy = (
            int(rng.integers(r + 2, size[1] - r - 2)),
            int(rng.integers(r + 2, size[0] - r - 2)),
        )
        b = (cx - r, cy - r, 2 * r + 1, 2 * r + 1)
        if boxes and iou_pairs(np.array([b] * len(boxes)), np.array(boxes)).max() > 0:
            continue
        if any(abs(cx - (x + w / 2)) < r + w / 2 + 4 and abs(cy - (y + h / 2)) < r + h / 2 + 4
               for x, y, w, h in boxes):  # fmt: skip
            continue
        cv2.circle(img, (cx, cy), r, 200, -1)
        boxes.append(b)
    return img, np.array(boxes, np.float64)


def training(rng, images: int):
    feats, jit, truth, groups = [], [], [], []
    for i in range(images):
        img, boxes = scene(rng)
        b, t = jittered(boxes, copies=8, rng=rng)
        feats.append(fit_rows(planes(img), b))
        jit.append(b)
        truth.append(t)
        groups.append(np.full(len(b), i))
    return [np.vstack(feats), np.vstack(jit), np.vstack(truth), np.concatenate(groups)]


def test_tightened_boxes_overlap_their_objects_better():
    rng = np.random.default_rng(0)
    x, b, t, g = training(rng, 6)
    fit = BoxFit.fit(features=x, boxes=b, truth=t, groups=g)
    assert fit is not None and fit.gain > 0.05
    img, boxes = scene(rng)  # a new image: the fit must generalise
    loose, truth = jittered(boxes, copies=4, rng=rng)
    before = iou_pairs(loose, truth).mean()
    after = iou_pairs(fit.tighten(planes(img), loose), truth).mean()
    assert after > before + 0.1
    assert after > 0.85


def test_loosely_drawn_truth_gets_a_stronger_ridge_than_exact_truth():
    """Where the annotator's boxes stray from the edges at random (as blood cells' do), the
    window says less about them: the held-out images choose a stronger ridge."""
    rng = np.random.default_rng(0)
    x, b, t, g = training(rng, 6)
    exact = BoxFit.fit(features=x, boxes=b, truth=t, groups=g)
    uniq, which = np.unique(t, axis=0, return_inverse=True)
    stray = rng.normal(0, [0.1, 0.1, 0.2, 0.2], (len(uniq), 4))  # one per true box
    loose = BoxFit.fit(features=x, boxes=b, truth=apply_deltas(t, stray[which.ravel()]), groups=g)
    assert exact.alpha in ALPHAS and loose.alpha in ALPHAS
    assert loose.alpha > exact.alpha


def test_boxes_unrelated_to_the_image_give_no_fit():
    rng = np.random.default_rng(1)
    x, b, t, g = training(rng, 4)
    shuffled = rng.permutation(len(x))  # features of other boxes: nothing to learn
    assert BoxFit.fit(features=x[shuffled], boxes=b, truth=t, groups=g) is None


@pytest.mark.parametrize("images", [0, 1])
def test_too_few_boxes_give_no_fit(images):
    rng = np.random.default_rng(2)
    img, boxes = scene(rng, n=5)
    b, t = jittered(boxes[: images * 5], copies=8, rng=rng)
    x = fit_rows(planes(img), b)
    assert BoxFit.fit(features=x, boxes=b, truth=t, groups=np.zeros(len(b))) is None


def test_state_round_trips_through_json():
    rng = np.random.default_rng(3)
    x, b, t, g = training(rng, 4)
    fit = BoxFit.fit(features=x, boxes=b, truth=t, groups=g)
    back = BoxFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert np.allclose(back.step(x[:20]), fit.step(x[:20]))
    assert back.alpha == fit.alpha
    assert BoxFit.from_dict({**fit.to_dict(), "boxfit_version": 0}) is None
    assert BoxFit.from_dict(None) is None


def test_a_second_regressor_takes_the_later_steps_and_round_trips():
    rng = np.random.default_rng(4)
    x, b, t, g = training(rng, 4)
    first = BoxFit.fit(features=x, boxes=b, truth=t, groups=g)
    idle = BoxFit(first.mean, first.scale, np.zeros_like(first.coef), np.zeros(4))
    img, boxes = scene(rng)
    loose, _ = jittered(boxes, copies=2, rng=rng)
    p = planes(img)
    once = first.tighten(p, loose, steps=1)
    # the second step is the second regressor's (here one that does not move boxes) ...
    assert np.allclose(first.then(idle).tighten(p, loose, steps=2), once)
    # ... and without one, the first regressor's again
    assert not np.allclose(first.then(None).tighten(p, loose, steps=2), once)
    chained = first.then(idle.then(first))  # a second regressor has no second of its own
    assert chained.second is not None and chained.second.second is None
    back = BoxFit.from_dict(json.loads(json.dumps(first.then(idle).to_dict())))
    assert np.allclose(back.tighten(p, loose, steps=3), once)
    assert BoxFit.from_dict(json.loads(json.dumps(first.to_dict()))).second is None


def test_the_second_regressor_fitted_nearer_the_truth_tightens_further():
    """The first step leaves smaller errors than the matcher's: a regressor trained on
    boxes jittered half as far takes them the rest of the way better than the first."""
    rng = np.random.default_rng(5)
    x, b, t, g = training(rng, 6)
    first = BoxFit.fit(features=x, boxes=b, truth=t, groups=g)
    near = [], [], []
    for _ in range(6):
        img, boxes = scene(rng)
        nb, nt = jittered(boxes, copies=8, rng=rng, spread=0.5)
        for part, rows in zip(near, (fit_rows(planes(img), nb), nb, nt), strict=True):
            part.append(rows)
    nx, nb, nt = (np.vstack(p) for p in near)
    second = BoxFit.fit(features=nx, boxes=nb, truth=nt, groups=np.repeat(np.arange(6), 96))
    img, boxes = scene(rng)
    loose, truth = jittered(boxes, copies=4, rng=rng)
    p = planes(img)
    again = iou_pairs(first.tighten(p, loose), truth).mean()
    assert iou_pairs(first.then(second).tighten(p, loose), truth).mean() > again + 0.005
