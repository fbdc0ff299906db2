"""labeler.ranking: calibrated re-ranking from decisions, the show rule, the diverse bank."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labeler.matching import FEATURE_NAMES
from labeler.ranking import MIN_EACH, Ranker, choose, diverse_subset, prior, threshold
from labeler.ranking.ranker import MAX_SHIFT_UP

F = len(FEATURE_NAMES)


def rows(rng: np.random.Generator, n: int, score=(0.7, 0.95)) -> np.ndarray:
    """Feature rows ``(n, F)``: column 0 a matcher score, the rest noise."""
    x = rng.normal(0.0, 1.0, (n, F))
    x[:, 0] = rng.uniform(*score, n)
    return x


def test_prior_is_monotone_and_conservative():
    s = np.linspace(0, 1, 101)
    p = prior(s)
    assert np.all(np.diff(p) > 0)
    assert prior(np.array([0.5]))[0] < 0.1  # today's server cut shows nearly nothing
    assert prior(np.array([0.9]))[0] > 0.8


def test_a_label_whose_proposals_are_all_rejected_stops_getting_them():
    rng = np.random.default_rng(1)
    r = Ranker.prior()
    assert len(choose(r.predict(features=rows(rng, 20)))) > 0  # the prior shows high scores
    for _ in range(3):  # three images of 10 rejected proposals each
        r = r.update(features=rows(rng, 10), accepted=np.zeros(10, bool))
    assert r.stage == "counts"
    assert len(choose(r.predict(features=rows(rng, 200)))) == 0


def test_a_few_decisions_move_the_prior_towards_the_observed_rate():
    rng = np.random.default_rng(2)
    x = rows(rng, 30, score=(0.8, 0.8))
    y = np.zeros(30, bool)
    y[:3] = True  # 10% accepted where the prior expected ~65%
    p = Ranker.fit(features=x, accepted=y).predict(features=x)
    assert abs(float(p.mean()) - 0.1) < 0.1


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_an_all_accepted_start_lifts_candidates_like_those_decided_not_weaker_ones():
    # Thirty accepts at scores 0.8-0.9 and no reject: candidates in that range may rise
    # freely, but nothing vouches for weaker ones below it (they rose by 3.4 log-odds
    # once, and a press showed 100 of them, 78 rejected).
    rng = np.random.default_rng(6)
    r = Ranker.fit(features=rows(rng, 30, score=(0.8, 0.9)), accepted=np.ones(30, bool))
    assert r.stage == "counts"
    like = rows(rng, 50, score=(0.8, 0.9))
    weaker = rows(rng, 50, score=(0.55, 0.7))
    for x in (like, weaker):
        x[:, FEATURE_NAMES.index("partial")] = 0.0  # whole matches: the plain prior
    lift_like = logit(r.predict(features=like)) - logit(prior(like[:, 0]))
    lift_weaker = logit(r.predict(features=weaker)) - logit(prior(weaker[:, 0]))
    assert lift_like.min() > 2 * MAX_SHIFT_UP
    np.testing.assert_allclose(lift_weaker, MAX_SHIFT_UP, atol=1e-6)
    back = Ranker.from_dict(json.loads(json.dumps(r.to_dict())))
    np.testing.assert_allclose(back.predict(features=weaker), r.predict(features=weaker))


def synthetic_decisions(rng: np.random.Generator, n: int):
    """Rows whose acceptance depends on the score and two other features."""
    x = rows(rng, n, score=(0.2, 1.0))
    z = 6.0 * (x[:, 0] - 0.6) + 1.2 * x[:, 3] - 0.8 * x[:, 6]
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-z))
    return x, y


def test_calibrated_within_0_1_of_observed_acceptance_on_held_out_decisions():
    rng = np.random.default_rng(3)
    x, y = synthetic_decisions(rng, 1500)
    r = Ranker.fit(features=x, accepted=y)
    assert r.stage == "model"
    xt, yt = synthetic_decisions(rng, 3000)
    p = r.predict(features=xt)
    edges = np.quantile(p, np.linspace(0, 1, 6))
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (p >= lo) & (p <= hi)
        assert abs(p[sel].mean() - yt[sel].mean()) < 0.1, (lo, hi)
    # And it ranks: the learned probability beats the raw score.
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(yt, p) > roc_auc_score(yt, xt[:, 0]) + 0.03


def test_model_needs_both_kinds_of_decision():
    rng = np.random.default_rng(4)
    x = rows(rng, 100)
    y = np.zeros(100, bool)
    y[: MIN_EACH - 1] = True
    assert Ranker.fit(features=x, accepted=y).stage == "counts"
    y[: MIN_EACH + 5] = True
    assert Ranker.fit(features=x, accepted=y).stage == "model"


def test_state_round_trips_through_json_and_is_versioned():
    rng = np.random.default_rng(5)
    x, y = synthetic_decisions(rng, 400)
    r = Ranker.fit(features=x, accepted=y)
    state = json.loads(json.dumps(r.to_dict()))
    back = Ranker.from_dict(state)
    np.testing.assert_allclose(back.predict(features=x), r.predict(features=x))
    assert Ranker.from_dict({**state, "matcher_version": "labeler-tm-1"}).stage == "prior"
    counts = Ranker.fit(features=x[:20], accepted=np.zeros(20, bool))
    again = Ranker.from_dict(json.loads(json.dumps(counts.to_dict())))
    np.testing.assert_allclose(again.predict(features=x), counts.predict(features=x))


def test_choose_shows_only_positive_expected_savings_best_first():
    p = np.array([0.1, 0.9, 0.3, 0.22, 0.5])
    assert threshold() == pytest.approx(1.6 / 7.0)
    assert choose(p).tolist() == [1, 4, 2]
    assert choose(p, cap=2).tolist() == [1, 4]
    assert choose(p, margin=2.0).tolist() == [1]  # 0.9*7-1.6 = 4.7; 0.5*7-1.6 = 1.9 < 2
    assert choose(np.zeros(0)).tolist() == []


def test_diverse_subset_spans_clusters_and_respects_k():
    rng = np.random.default_rng(6)
    centres = np.array([[0, 0, 0], [5, 0, 0], [0, 5, 5]], float)
    desc = np.vstack([c + rng.normal(0, 0.1, (30, 3)) for c in centres])
    idx = diverse_subset(desc, k=3)
    assert sorted(set((idx // 30).tolist())) == [0, 1, 2]
    assert len(diverse_subset(desc, k=50)) == 50
    assert len(set(diverse_subset(desc, k=50).tolist())) == 50
    assert diverse_subset(desc[:10], k=50).tolist() == list(range(10))
    np.testing.assert_array_equal(diverse_subset(desc, k=7), diverse_subset(desc, k=7))


def test_prior_discounts_likely_half_boxes():
    x = np.zeros((2, F))
    x[:, 0] = 0.85
    x[1, FEATURE_NAMES.index("partial")] = 1.0
    p = Ranker.prior().predict(features=x)
    odds = p / (1 - p)
    assert odds[0] / odds[1] == pytest.approx(4.0)


def test_adjust_aware_rule_shows_proposals_that_would_be_moved():
    p = np.array([0.1, 0.1])
    useful = np.array([0.1, 0.6])  # the second is likely the right object, loosely boxed
    assert choose(p).tolist() == []
    assert choose(p, p_useful=useful).tolist() == [1]


@pytest.mark.parametrize(
    ("second_box", "p_second", "shown"),
    [
        ((10.0, 10.0, 40.0, 40.0), 0.1, [0, 2]),  # over the first (IoU 0.6): adjustable only
        ((10.0, 10.0, 40.0, 40.0), 0.6, [1, 0, 2]),  # as likely accepted: pays on its own
        ((200.0, 0.0, 40.0, 40.0), 0.1, [0, 2, 1]),  # elsewhere: its adjust saving holds
    ],
)
def test_a_candidate_over_a_better_one_shown_must_pay_on_acceptance_alone(
    second_box, p_second, shown
):
    """Two proposals of one object shown together: whichever the annotator takes, the other
    is rejected, so the weaker one's saving as an adjust is not there."""
    boxes = np.array([(0.0, 0.0, 45.0, 45.0), second_box, (100.0, 100.0, 40.0, 40.0)])
    p = np.array([0.5, p_second, 0.3])
    useful = np.array([0.9, 0.7, 0.8])
    assert choose(p, p_useful=useful).tolist() == sorted(range(3), key=lambda i: -p[i])
    assert choose(p, p_useful=useful, boxes=boxes).tolist() == shown
