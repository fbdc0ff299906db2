"""labeler.prelabel.tightening: box regressors fitted on a dataset's boxes, used on proposals."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from labeler.imageio import read_image
from labeler.matching import Candidates
from labeler.matching.geometry import iou_pairs
from labeler.matching.profiles import jittered, planes
from labeler.prelabel import learning, tightening
from labeler.store.models import Box, Candidate, Image, RankerState


def _demo(demo_ws):
    from labeler.ingest import load_demo_boxes
    from labeler.store.queries import get_dataset, label_by_name

    load_demo_boxes(demo_ws)
    with demo_ws.sessions() as s:
        ds = get_dataset(s, "demo")
        return ds.id, label_by_name(ds, "RBC").id


def test_refit_stores_a_fit_that_tightens_loose_boxes_and_keeps_the_rankers(demo_ws):
    ds, rbc = _demo(demo_ws)
    with demo_ws.sessions.begin() as s:
        learning.upsert_state(s, dataset_id=ds, label_id=rbc, accepted={"kept": 1})
        fits = tightening.refit(demo_ws, s, dataset_id=ds)
    assert fits[rbc] is not None and fits[rbc].gain > 0
    # the later step's own regressor, fitted on boxes jittered NEAR_SPREAD times as far
    assert fits[rbc].second is not None and fits[rbc].second.gain > 0
    with demo_ws.sessions() as s:
        state = s.scalar(select(RankerState).where(RankerState.label_id == rbc)).state
        assert state["accepted"] == {"kept": 1} and "boxfit" in state
        fit = tightening.load(s, dataset_id=ds)[rbc]
        assert fit.second is not None and fit.second.alpha == fits[rbc].second.alpha
        image = s.scalars(select(Image).where(Image.dataset_id == ds).order_by(Image.path)).first()
        truth = np.array([b.xywh for b in image.boxes if b.label_id == rbc])
        pixels = read_image(demo_ws.root / image.path)
    loose, t = jittered(truth, copies=4, rng=np.random.default_rng(0))
    cands = Candidates(
        loose, np.ones(len(loose)), ("RBC",) * len(loose), np.zeros((len(loose), 15))
    )
    tight, showable = tightening.tighten(planes(pixels), cands, fit, np.linspace(1, 0, len(loose)))
    # Tighter than the matcher's boxes, never far from them, inside the image.
    assert iou_pairs(tight.boxes, t).mean() > iou_pairs(loose, t).mean() + 0.02
    moved = np.any(tight.boxes != loose, axis=1)
    assert (iou_pairs(tight.boxes[moved], loose[moved]) >= tightening.KEEP_IOU).all()
    h, w = pixels.shape[:2]
    b = tight.boxes[moved]
    assert moved.mean() > 0.5 and (b[:, :2] >= 0).all()
    assert (b[:, 0] + b[:, 2] <= w).all() and (b[:, 1] + b[:, 3] <= h).all()
    # Four copies of each object: one per object stays showable.
    assert len(truth) <= showable.sum() < len(loose)


def test_accepted_proposals_left_as_they_were_teach_no_edges(demo_ws):
    ds, rbc = _demo(demo_ws)
    with demo_ws.sessions.begin() as s:
        s.execute(Box.__table__.update().where(Box.label_id == rbc).values(source="matcher"))
        for box in s.scalars(select(Box).where(Box.label_id == rbc)):  # shown as they are now
            x, y, w, h = box.xywh
            s.add(Candidate(image_id=box.image_id, label_id=rbc, x=x, y=y, w=w, h=h, features=[],
                            matcher_version="t", shown=True, box_id=box.id))  # fmt: skip
        s.flush()
        assert tightening.refit(demo_ws, s, dataset_id=ds)[rbc] is None
        assert "boxfit" not in (
            s.scalar(select(RankerState).where(RankerState.label_id == rbc)).state
        )
