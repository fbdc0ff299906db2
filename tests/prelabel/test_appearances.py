"""labeler.prelabel.appearances: each label's appearance model, fitted on its decided
candidates and used as the rankers' ``appearance`` column."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from labeler.imageio import read_image
from labeler.matching import Exemplar, Matcher
from labeler.matching.profiles import planes
from labeler.prelabel import appearances, learning, ranked
from labeler.ranking import RANK_FEATURES
from labeler.ranking.appearance import MIN_EACH
from labeler.store.models import Image, RankerState

APPEARANCE = RANK_FEATURES.index("appearance")


@pytest.fixture
def decided(demo_ws):
    """The demo's boxes, RBC candidates recorded on 6 images, every image done (outcomes
    set); returns (dataset id, RBC label id, the images' ids)."""
    from labeler.ingest import load_demo_boxes
    from labeler.store.queries import get_dataset, label_by_name

    load_demo_boxes(demo_ws)
    with demo_ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        rbc = label_by_name(ds, "RBC")
        images = list(
            s.scalars(select(Image).where(Image.dataset_id == ds.id).order_by(Image.path))
        )
        ex_box = next(b for b in images[0].boxes if b.label_id == rbc.id).xywh
        matcher = Matcher([Exemplar(read_image(demo_ws.root / images[0].path), ex_box, "RBC")])
        for img in images[:6]:
            c = matcher.candidates(read_image(demo_ws.root / img.path), min_score=0.2)
            c = c.of_label("RBC")
            learning.record_candidates(s, image=img, label_id=rbc.id, candidates=c,
                                       shown_mask=np.zeros(len(c), bool))  # fmt: skip
            img.state = "done"
            learning.label_outcomes(s, image_id=img.id)
        return ds.id, rbc.id, [im.id for im in images]


def test_refit_stores_a_model_that_ranks_accepted_candidates_first(demo_ws, decided):
    ds, rbc, image_ids = decided
    with demo_ws.sessions.begin() as s:
        models = appearances.refit(demo_ws, s, dataset_id=ds)
    assert models[rbc] is not None and models[rbc].n_rows > 100
    with demo_ws.sessions() as s:
        state = s.scalar(select(RankerState).where(RankerState.label_id == rbc)).state
        assert state["appearance"]["n_rows"] == models[rbc].n_rows
        loaded = ranked.dataset_models(s, dataset_id=ds)[rbc].appearance
        img = s.get(Image, image_ids[8])  # an image the model has not seen
        truth = np.array([b.xywh for b in img.boxes if b.label_id == rbc], np.float64)
    pixels = read_image(demo_ws.root / img.path)
    rng = np.random.default_rng(0)
    h, w = pixels.shape[:2]
    side = np.median(truth[:, 2:], axis=0)
    elsewhere = np.column_stack([rng.uniform(0, w - side[0], 40), rng.uniform(0, h - side[1], 40),
                                 np.full(40, side[0]), np.full(40, side[1])])  # fmt: skip
    cands = learning_candidates(np.vstack([truth, elsewhere]))
    out = ranked.with_rank_features(cands, lambda: planes(pixels), loaded).features[:, APPEARANCE]
    on_cells, off = out[: len(truth)], out[len(truth) :]
    assert np.median(on_cells) > np.median(off)
    assert (on_cells[:, None] > off[None, :]).mean() > 0.7  # AUC on an unseen image


def learning_candidates(boxes: np.ndarray):
    from labeler.matching import FEATURE_NAMES, Candidates

    n = len(boxes)
    features = np.zeros((n, len(FEATURE_NAMES)))
    features[:, 0] = 0.5
    return Candidates(boxes, np.full(n, 0.5), ("RBC",) * n, features)


def test_too_few_decisions_store_no_model_and_the_column_stays_0(demo_ws):
    from labeler.store.queries import get_dataset

    with demo_ws.sessions.begin() as s:
        ds = get_dataset(s, "demo").id
        assert set(appearances.refit(demo_ws, s, dataset_id=ds).values()) == {None}
        assert all(m.appearance is None for m in ranked.dataset_models(s, dataset_id=ds).values())
    box = np.array([[10.0, 10.0, 30.0, 30.0]])
    img = np.zeros((100, 100), np.uint8)
    out = ranked.with_rank_features(learning_candidates(box), lambda: planes(img))
    assert out.features[0, APPEARANCE] == 0.0


def test_candidates_past_the_measured_ones_get_the_base_rate(demo_ws, decided, monkeypatch):
    ds, rbc, _ = decided
    with demo_ws.sessions.begin() as s:
        model = appearances.refit(demo_ws, s, dataset_id=ds)[rbc]
    assert model.base_log_odds < 0  # most candidates are not accepted
    monkeypatch.setattr(ranked, "EDGE_TOP", 1)
    box = np.array([[10.0, 10.0, 30.0, 30.0]] * 2)
    img = np.zeros((100, 100), np.uint8)
    out = ranked.with_rank_features(learning_candidates(box), lambda: planes(img), model)
    assert out.features[1, APPEARANCE] == model.base_log_odds


def test_the_switch_leaves_models_out(demo_ws, decided, monkeypatch):
    ds, rbc, _ = decided
    with demo_ws.sessions.begin() as s:
        appearances.refit(demo_ws, s, dataset_id=ds)
    monkeypatch.setenv("LABELER_NO_APPEARANCE", "1")
    with demo_ws.sessions() as s:
        assert appearances.load(s, dataset_id=ds) == {}


def test_accepted_candidates_older_than_the_window_still_teach_the_model(
    demo_ws, decided, monkeypatch
):
    """Crowded images bury a label's few accepted candidates under hundreds of others: a
    window over the newest rows of every outcome then held fewer than MIN_EACH accepted
    and the label lost its model. The accepted ones are counted on their own."""
    from labeler.store.models import Candidate

    ds, rbc, _ = decided
    with demo_ws.sessions() as s:
        newest = s.scalars(
            select(Candidate.outcome)
            .where(Candidate.label_id == rbc, Candidate.outcome.is_not(None))
            .order_by(Candidate.id.desc())
            .limit(60)
        ).all()
        accepted = s.scalar(
            select(func.count(Candidate.id)).where(
                Candidate.label_id == rbc, Candidate.outcome == "accepted"
            )
        )
    monkeypatch.setattr(appearances, "MAX_ROWS", 60)
    assert newest.count("accepted") < MIN_EACH <= accepted  # the old window fitted nothing
    with demo_ws.sessions.begin() as s:
        model = appearances.refit(demo_ws, s, dataset_id=ds)[rbc]
    assert model is not None and model.n_rows == 60 + accepted
