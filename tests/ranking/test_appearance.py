"""labeler.ranking.appearance: does a candidate look like the boxes this annotator accepts?"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_boxfit import scene

from labeler.matching.profiles import HOG_COUNT, box_looks, planes
from labeler.ranking.appearance import MIN_EACH, Appearance


def _rows(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """HOG rows of tight boxes on discs (accepted) and of boxes on the background."""
    rng = np.random.default_rng(seed)
    img, boxes = scene(rng)
    tight = np.repeat(boxes, 3, axis=0) + rng.normal(0, 0.5, (3 * len(boxes), 4))
    h, w = img.shape[:2]
    side = rng.uniform(20, 60, (len(tight), 1))
    empty = np.column_stack([rng.uniform(0, w - 60, len(tight)), rng.uniform(0, h - 60, len(tight)),
                             side, side])  # fmt: skip
    p = planes(img)
    x = np.vstack([box_looks(p, tight)[1], box_looks(p, empty)[1]])
    return x, np.repeat([True, False], len(tight))


def test_a_model_fitted_on_some_images_tells_objects_from_background_on_another():
    parts = [_rows(seed) for seed in range(4)]
    model = Appearance.fit(features=np.vstack([x for x, _ in parts]),
                           accepted=np.concatenate([y for _, y in parts]))  # fmt: skip
    x, y = _rows(99)
    odds = model.log_odds(x)
    assert odds.shape == (len(y),)
    # AUC on the unseen image: most object boxes outrank most background boxes
    auc = (odds[y][:, None] > odds[~y][None, :]).mean()
    assert auc > 0.9, auc


@pytest.mark.parametrize(("n_accepted", "n_other"), [(MIN_EACH - 1, 100), (100, MIN_EACH - 1)])
def test_too_few_of_either_class_fits_nothing(n_accepted, n_other):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_accepted + n_other, HOG_COUNT))
    y = np.arange(len(x)) < n_accepted
    assert Appearance.fit(features=x, accepted=y) is None


def test_state_round_trips_through_json_and_refuses_another_version():
    x, y = _rows(1)
    model = Appearance.fit(features=x, accepted=y)
    state = json.loads(json.dumps(model.to_dict()))
    again = Appearance.from_dict(state)
    np.testing.assert_allclose(again.log_odds(x), model.log_odds(x))
    assert Appearance.from_dict({**state, "appearance_version": 0}) is None
    assert Appearance.from_dict({**state, "features": HOG_COUNT + 1}) is None
    assert Appearance.from_dict(None) is None
    assert Appearance.from_dict({**state, "appearance_version": 1}) is None  # profile rows
