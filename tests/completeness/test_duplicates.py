"""Near-duplicate search on a crowded image: at a given crowding its cost grows like
n log n with the boxes per image, not like n squared (every pair of the image).

Cost is counted in SQLite virtual-machine steps (a progress handler called every
``STEP`` instructions), which do not depend on the machine's speed or load.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, insert, select

from labeler.completeness.duplicates import near_duplicates
from labeler.store.models import Box, Dataset, Image, LabelClass

STEP = 1000


def _crowd(ws, n: int, seed: int = 0, width: float = 600) -> tuple[int, int]:
    """``n`` small live boxes scattered over ``width`` x 440 px of one image (a find-similar
    run wild; the extent need not fit the image for this check), one
    near-duplicate pair planted; returns the dataset id and the pairs at IoU > 0.9 (all
    pairs compared with NumPy)."""
    rng = np.random.default_rng(seed)
    with ws.sessions.begin() as s:
        s.execute(delete(Box))
        ds = s.scalars(select(Dataset)).first()
        image = s.scalars(select(Image).where(Image.dataset_id == ds.id)).first()
        label = s.scalars(select(LabelClass).where(LabelClass.dataset_id == ds.id)).first()
        x, y = rng.uniform(0, width, n), rng.uniform(0, 440, n)
        side = rng.uniform(20, 30, n)  # big enough that boxes overlap a lot
        x[1], y[1], side[1] = x[0] + 0.3, y[0], side[0]
        rows = [
            dict(image_id=image.id, label_id=label.id, x=float(a), y=float(b), w=float(c),
                 h=float(c), status="proposed", source="matcher")
            for a, b, c in zip(x, y, side, strict=True)
        ]  # fmt: skip
        s.execute(insert(Box), rows)
    iw = np.minimum(x[:, None] + side[:, None], x + side) - np.maximum(x[:, None], x)
    ih = np.minimum(y[:, None] + side[:, None], y + side) - np.maximum(y[:, None], y)
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = side * side
    expected = int(np.triu(inter / (area[:, None] + area - inter) > 0.9, k=1).sum())
    return ds.id, expected


def _steps(ws, dataset_id: int) -> tuple[int, int]:
    """(near-duplicate pairs, SQLite VM steps / STEP) of one near-duplicate search."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # 0: carry on

    with ws.engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.set_progress_handler(count, STEP)
        try:
            pairs = near_duplicates(conn, dataset_id)
        finally:
            raw.set_progress_handler(None, STEP)
    return len(pairs), steps


@pytest.mark.parametrize("n", [1500, 3000])
def test_a_crowded_image_finds_every_pair_over_the_threshold(demo_ws, n):
    dataset_id, expected = _crowd(demo_ws, n)
    pairs, _ = _steps(demo_ws, dataset_id)
    assert pairs == expected >= 1


def test_twice_the_boxes_on_twice_the_area_about_doubles_the_work(demo_ws):
    _, small = _steps(demo_ws, _crowd(demo_ws, 2000)[0])
    _, large = _steps(demo_ws, _crowd(demo_ws, 4000, width=1200)[0])
    # all pairs per image (the old self-join) quadruples; a seek per box about doubles
    assert large / small < 2.8, (small, large)
