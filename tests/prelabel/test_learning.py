"""Learning from decisions: stored candidates, outcomes, refits, ranker state, the bank."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import inspect, select

from labeler.matching import MATCHER_VERSION, Candidates
from labeler.matching.profiles import planes
from labeler.prelabel import learning
from labeler.prelabel.bank import bank_exemplar_boxes
from labeler.prelabel.ranked import with_rank_features
from labeler.ranking import RANK_FEATURES, Ranker
from labeler.store import Box, Dataset, Image, make_engine, migrate
from labeler.store.models import Candidate, RankerState
from labeler.store.queries import ensure_labels

F = len(RANK_FEATURES)


@pytest.fixture
def ids(sessions):
    """dataset id, label ids {RBC, WBC} and one 640x480 image id per call of ``new_image``."""
    with sessions.begin() as s:
        ds = Dataset(name="cells")
        s.add(ds)
        labels = {lb.name: lb.id for lb in ensure_labels(s, ds, ["RBC", "WBC"])}
        s.flush()
        return ds.id, labels


def new_image(s, dataset_id: int, n: int = 0) -> Image:
    img = Image(dataset_id=dataset_id, path=f"datasets/cells/images/{n}.png", sha256="0" * 64,
                width=640, height=480, format="png")  # fmt: skip
    s.add(img)
    s.flush()
    return img


def cands(boxes, scores, rng=None) -> Candidates:
    boxes = np.array(boxes, np.float64).reshape(-1, 4)
    feats = np.zeros((len(boxes), F)) if rng is None else rng.normal(0, 1, (len(boxes), F))
    feats[:, 0] = scores
    return Candidates(boxes, np.asarray(scores, np.float64), ("x",) * len(boxes), feats)


def test_migration_creates_the_learning_tables(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    insp = inspect(engine)
    assert {"candidate", "ranker_state"} <= set(insp.get_table_names())
    idx = {i["name"]: i["column_names"] for i in insp.get_indexes("candidate")}
    assert idx["ix_candidate_label_outcome"] == ["label_id", "outcome", "id"]
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version >= "0004"  # 0004 made these tables; later migrations keep them
    engine.dispose()


def test_outcomes_match_one_candidate_per_box_within_a_batch(sessions, ids):
    ds, lab = ids
    with sessions.begin() as s:
        img = new_image(s, ds)
        for label, box in (("RBC", (100, 100, 40, 40)), ("RBC", (300, 100, 40, 40)),
                           ("WBC", (500, 300, 40, 40))):  # fmt: skip
            s.add(Box(image=img, label_id=lab[label], x=box[0], y=box[1], w=box[2], h=box[3]))
        s.add(Box(image=img, label_id=lab["RBC"], x=10, y=400, w=40, h=40, status="rejected"))
        c = cands([(101, 101, 40, 40),  # IoU 0.91: accepted
                   (104, 104, 40, 40),  # same box again, lower score: rejected (taken)
                   (300, 100, 40, 20),  # IoU 0.5: useful
                   (500, 300, 40, 40),  # a WBC box: no RBC there
                   (10, 400, 40, 40)],  # a rejected box: rejected
                  [0.9, 0.8, 0.7, 0.6, 0.5])  # fmt: skip
        learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=c,
                                   shown_mask=[True, False, True, False, True])  # fmt: skip
        image_id = img.id
    with sessions.begin() as s:
        counts = learning.label_outcomes(s, image_id=image_id)
    assert counts == {"accepted": 1, "useful": 1, "rejected": 3}
    with sessions() as s:
        got = s.scalars(select(Candidate.outcome).order_by(Candidate.id)).all()
    assert got == ["accepted", "rejected", "useful", "rejected", "rejected"]


def test_shown_candidates_are_matched_first_and_batches_apart(sessions, ids):
    ds, lab = ids
    with sessions.begin() as s:
        img = new_image(s, ds)
        s.add(Box(image=img, label_id=lab["RBC"], x=100, y=100, w=40, h=40))
        c = cands([(101, 101, 40, 40), (102, 100, 40, 40)], [0.9, 0.5])
        learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=c,
                                   shown_mask=[False, True])  # fmt: skip
        learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=c)
        learning.label_outcomes(s, image_id=img.id)
        got = s.scalars(select(Candidate.outcome).order_by(Candidate.id)).all()
    # batch 1: the shown one takes the box; batch 2 (another request) matches on its own
    assert got == ["rejected", "accepted", "accepted", "rejected"]


def test_record_caps_rows_per_image_and_label_keeping_shown(sessions, ids):
    ds, lab = ids
    rng = np.random.default_rng(0)
    with sessions.begin() as s:
        img = new_image(s, ds)
        xy = rng.uniform(0, 400, (20, 2))
        boxes = np.column_stack([xy, np.full((20, 2), 30.0)])
        c = cands(boxes, np.linspace(0.9, 0.2, 20))
        shown = np.zeros(20, bool)
        shown[[0, 19]] = True
        n = learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=c,
                                       shown_mask=shown, box_ids=[None] * 20, cap=5)  # fmt: skip
        rows = s.scalars(select(Candidate).order_by(Candidate.id)).all()
        assert n == 5 and [round(r.features[0], 3) for r in rows] == [0.9, 0.863, 0.826, 0.789, 0.2]
        assert [r.shown for r in rows] == [True, False, False, False, True]
        again = cands(boxes[:3], [0.5] * 3)
        learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=again, cap=5)
        left = s.scalars(select(Candidate).order_by(Candidate.id)).all()
        # 8 rows over a cap of 5: the three oldest unshown go, shown ones stay
        assert len(left) == 5 and sum(r.shown for r in left) == 2
        assert [r.matcher_version for r in left] == [MATCHER_VERSION] * 5
        with pytest.raises(ValueError, match="box_ids"):
            learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=c,
                                       box_ids=[1])  # fmt: skip


def _done_image(s, ds, label_id, n, rng, *, positives: bool):
    """An image with 12 candidates of ``label_id``; with ``positives`` half of them (the
    higher-scored) coincide with accepted boxes."""
    img = new_image(s, ds, n)
    boxes = np.array([(20 + 50 * i, 20 + 30 * (i % 3), 30, 30) for i in range(12)], float)
    scores = np.where(np.arange(12) < 6, rng.uniform(0.75, 0.95, 12), rng.uniform(0.5, 0.8, 12))
    if positives:
        for b in boxes[:6]:
            s.add(Box(image=img, label_id=label_id, x=b[0], y=b[1], w=b[2], h=b[3]))
    c = cands(boxes, scores, rng)
    learning.record_candidates(s, image=img, label_id=label_id, candidates=c)
    s.flush()
    learning.label_outcomes(s, image_id=img.id)
    return c


def test_refit_silences_a_label_whose_candidates_were_all_rejected(sessions, ids):
    ds, lab = ids
    rng = np.random.default_rng(1)
    with sessions.begin() as s:
        for n in range(6):
            _done_image(s, ds, lab["WBC"], n, rng, positives=False)
            _done_image(s, ds, lab["RBC"], 100 + n, rng, positives=True)
    fresh = cands([(10, 10, 30, 30)] * 20, rng.uniform(0.85, 0.95, 20), rng)
    p0, pu0 = learning.score((Ranker.prior(), Ranker.prior()), fresh.features)
    assert len(learning.select_shown(p0, p_useful=pu0)) == 20  # the prior shows them all
    with sessions.begin() as s:
        states = learning.refit(s, dataset_id=ds)
    assert set(states) == {lab["RBC"], lab["WBC"]}
    with sessions() as s:
        wbc = learning.rankers(s, dataset_id=ds, label_id=lab["WBC"])
        rbc = learning.rankers(s, dataset_id=ds, label_id=lab["RBC"])
        row = s.scalar(select(RankerState).where(RankerState.label_id == lab["WBC"]))
        assert (row.n_examples, row.matcher_version) == (72, MATCHER_VERSION)
    p, pu = learning.score(wbc, fresh.features)
    assert wbc[0].stage == "counts" and p.max() < 1.6 / 7.0
    assert len(learning.select_shown(p, p_useful=pu)) == 0
    assert rbc[0].stage == "model"  # 36 accepted, 36 rejected
    p, pu = learning.score(rbc, fresh.features)
    shown = learning.select_shown(p, p_useful=pu, cap=8, already_shown=3)
    assert len(shown) == 5  # the label that earned it is shown, up to the per-image cap


@pytest.mark.parametrize(
    ("n_pos", "n_neg", "stage", "limit"),
    [(0, 0, "prior", 10), (3, 5, "counts", 13), (12, 14, "model", 22), (40, 9, "model", 50)],
)
def test_a_request_shows_what_the_label_has_earned(n_pos, n_neg, stage, limit):
    rng = np.random.default_rng(n_pos)
    x = rng.normal(0, 1, (n_pos + n_neg, F))
    y = np.arange(n_pos + n_neg) < n_pos
    x[y, 0] += 2.0  # accepted ones score higher: the model trusts high scores
    ranker = Ranker.fit(features=x, accepted=y) if len(y) else Ranker.prior()
    assert ranker.stage == stage and learning.earned(ranker) == limit


def test_a_request_holds_back_what_the_label_has_not_earned_batch_work_does_not():
    from labeler.prelabel.ranked import LabelModels, blocked_by, rank_label

    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (480, 640, 3), np.uint8)
    xy = np.array([(20 + 60 * (i % 10), 20 + 60 * (i // 10)) for i in range(30)], float)
    c = cands(np.column_stack([xy, np.full((30, 2), 40.0)]), np.full(30, 0.97))
    kw = dict(blocked=blocked_by([]), planes=lambda: planes(image))
    now = rank_label(c, LabelModels.priors(), **kw)
    batch = rank_label(c, LabelModels.priors(), **kw, batch=True)
    assert (len(now.order), now.held_back) == (learning.EARN_BASE, 30 - learning.EARN_BASE)
    assert (len(batch.order), batch.held_back) == (30, 0)
    assert list(now.order) == list(batch.order[: learning.EARN_BASE])  # the best ones first
    # the per-image cap counts first: 95 already shown leave 5, within what was earned
    capped = rank_label(c, LabelModels.priors(), **kw, already_shown=learning.CAP_SHOWN - 5)
    assert (len(capped.order), capped.held_back) == (5, 0)


def test_state_round_trips_and_falls_back_on_another_matcher_version(sessions, ids):
    ds, lab = ids
    rng = np.random.default_rng(2)
    with sessions.begin() as s:
        for n in range(4):
            _done_image(s, ds, lab["RBC"], n, rng, positives=True)
        learning.refit(s, dataset_id=ds, label_id=lab["RBC"])
        x = np.array(s.scalars(select(Candidate.features).order_by(Candidate.id)).all())
        y = np.array(s.scalars(select(Candidate.outcome).order_by(Candidate.id)).all())
    direct = Ranker.fit(features=x, accepted=y == "accepted")
    with sessions() as s:
        acc, use = learning.rankers(s, dataset_id=ds, label_id=lab["RBC"])
        assert learning.dataset_rankers(s, dataset_id=ds)[lab["WBC"]][0].stage == "prior"
    assert acc.stage == "model" and use.stage == "model"
    np.testing.assert_allclose(acc.predict(features=x), direct.predict(features=x), atol=1e-9)
    with sessions.begin() as s:
        row = s.scalar(select(RankerState).where(RankerState.label_id == lab["RBC"]))
        row.matcher_version = "labeler-tm-0"
    with sessions() as s:
        acc, use = learning.rankers(s, dataset_id=ds, label_id=lab["RBC"])
    assert (acc.stage, use.stage) == ("prior", "prior")
    # rows of an older matcher are not training rows; a refit upserts the same state row
    with sessions.begin() as s:
        for cand in s.scalars(select(Candidate)):
            cand.matcher_version = "labeler-tm-0"
        assert learning.refit(s, dataset_id=ds, label_id=lab["RBC"]) == {}
        _done_image(s, ds, lab["RBC"], 50, rng, positives=True)
        learning.refit(s, dataset_id=ds)
    with sessions() as s:
        rows = s.scalars(select(RankerState)).all()
        assert [(r.label_id, r.n_examples, r.matcher_version) for r in rows] == [
            (lab["RBC"], 12, MATCHER_VERSION)
        ]


def test_on_the_demo_real_candidates_learn_and_the_bank_spreads(demo_ws):
    from labeler.imageio import read_image
    from labeler.ingest import load_demo_boxes
    from labeler.matching import Exemplar, Matcher
    from labeler.store.queries import get_dataset, label_by_name

    load_demo_boxes(demo_ws)
    with demo_ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        rbc = label_by_name(ds, "RBC")
        images = s.scalars(select(Image).where(Image.dataset_id == ds.id).order_by(Image.path))
        images = list(images)[:3]
        ex_box = next(b for b in images[0].boxes if b.label_id == rbc.id).xywh
        pixels = read_image(demo_ws.root / images[0].path)
        matcher = Matcher([Exemplar(image=pixels, box=ex_box, label="RBC")])
        for img in images:
            target = read_image(demo_ws.root / img.path)
            c = matcher.candidates(target, min_score=learning.MIN_SCORE).of_label("RBC")
            c = with_rank_features(c, lambda target=target: planes(target))  # the rankers' columns
            p, pu = learning.score(learning.rankers(s, dataset_id=ds.id, label_id=rbc.id),
                                   c.features)  # fmt: skip
            shown = learning.select_shown(p, p_useful=pu)
            learning.record_candidates(s, image=img, label_id=rbc.id, candidates=c,
                                       shown_mask=learning.shown_mask(len(c), shown))  # fmt: skip
            img.state = "done"
            counts = learning.label_outcomes(s, image_id=img.id)
            assert counts["accepted"] > 0 and counts["rejected"] > 0
        learning.refit(s, dataset_id=ds.id)
        acc, _ = learning.rankers(s, dataset_id=ds.id, label_id=rbc.id)
        assert acc.n_pos > 0 and acc.n_neg > 0

        geo = bank_exemplar_boxes(s, dataset_id=ds.id, label_id=rbc.id, k=8)
        assert len(geo) == 8 and len(set(geo)) == 8
        loaded: list[int] = []

        def load(image):
            loaded.append(image.id)
            return read_image(demo_ws.root / image.path)

        bank = bank_exemplar_boxes(s, dataset_id=ds.id, label_id=rbc.id, k=8,
                                   load_image=load, pool=60)  # fmt: skip
        assert len(bank) == 8 and len(loaded) == len(set(loaded))
        sizes = np.array([b[2] * b[3] for _, b in bank])
        assert sizes.max() / sizes.min() > 1.5  # spread, not 8 near-copies
        for image_id, (x, y, w, h) in bank:
            img = s.get(Image, image_id)
            assert x > 0 and y > 0 and x + w < img.width and y + h < img.height


def test_box_deletion_keeps_the_candidate_and_image_deletion_removes_it(sessions, ids):
    ds, lab = ids
    with sessions.begin() as s:
        img = new_image(s, ds)
        box = Box(image=img, label_id=lab["RBC"], x=5, y=5, w=20, h=20, status="proposed")
        s.add(box)
        s.flush()
        c = cands([(5, 5, 20, 20), (50, 50, 20, 20)], [0.9, 0.4])
        learning.record_candidates(s, image=img, label_id=lab["RBC"], candidates=c,
                                   shown_mask=[True, False], box_ids=[box.id, None])  # fmt: skip
        assert s.scalars(select(Candidate.box_id).order_by(Candidate.id)).all() == [box.id, None]
        s.delete(box)
    with sessions.begin() as s:
        assert s.scalars(select(Candidate.box_id)).all() == [None, None]
        s.delete(s.get(Image, img.id))
    with sessions() as s:
        assert s.scalars(select(Candidate)).all() == []
