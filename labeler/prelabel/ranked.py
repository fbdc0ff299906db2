"""One label's candidates -> the proposals worth showing: the learned step, without a database.

The rule every path shares (find similar, Propagate, opening proposals and batch
``labeler prelabel``): the label's rankers turn matcher candidates into calibrated
probabilities, its box regressor (if it has one) tightens the most probable, places a
staying box rules out are dropped (judged on the matcher's box, then on the tightened one),
and :func:`labeler.prelabel.learning.select_shown` keeps those whose expected saving of
annotator time is positive. :class:`LabelModels` is what a label has learned, small and
picklable, so batch workers get it with their exemplars.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from labeler.matching import XYWH, Candidates, Matcher, Proposal, iou_matrix, profiles
from labeler.matching.levels import TargetLevels
from labeler.matching.profiles import Planes
from labeler.prelabel import appearances, learning, tightening
from labeler.ranking import Ranker
from labeler.ranking.appearance import Appearance
from labeler.ranking.boxfit import BoxFit

# Which candidates a staying box rules out: a mask (N,) for the candidates given.
BlockedRule = Callable[[Candidates], np.ndarray]
# A candidate overlapping a box that stays this much is a near-duplicate of an object already
# boxed (few true neighbours overlap so much: 3% of blood cells, under 1% of other sets) and
# costs a rejection: ruled out below the store's DECIDED_IOU (0.5, which every write keeps).
NEAR_DUPLICATE_IOU = 0.35
MATCHER_MIN_SCORE = learning.MIN_SCORE  # candidates are asked for this low: rankers decide


def blocked_by(staying: Sequence[XYWH]) -> BlockedRule:
    """The rule for boxes ``staying`` on the image (those that rule the label's places out,
    :func:`labeler.store.proposals.blocks`): IoU >= :data:`NEAR_DUPLICATE_IOU` with one."""
    boxes = np.array(staying, np.float64).reshape(-1, 4)

    def rule(cands: Candidates) -> np.ndarray:
        if not len(cands) or not len(boxes):
            return np.zeros(len(cands), bool)
        return iou_matrix(cands.boxes, boxes).max(axis=1) >= NEAR_DUPLICATE_IOU

    return rule


@dataclass(frozen=True, eq=False)
class LabelModels:
    """A label's rankers (P(accepted), P(accepted or adjusted)), box regressor and
    appearance model."""

    accepted: Ranker
    useful: Ranker
    boxfit: BoxFit | None = None
    appearance: Appearance | None = None

    @classmethod
    def priors(cls) -> LabelModels:
        """What a label knows before any decision: the priors, no regressor."""
        return cls(Ranker.prior(), Ranker.prior())

    @property
    def learned(self) -> bool:
        """Whether decisions have taught it anything (a ranker past the prior, or a fit)."""
        return self.boxfit is not None or self.accepted.stage != "prior"

    def key(self) -> str:
        """A stable text of the state, for cache keys."""
        parts = [self.accepted.to_dict(), self.useful.to_dict()]
        fitted = [None if m is None else m.to_dict() for m in (self.boxfit, self.appearance)]
        return repr([parts, fitted])


def lazy_planes(image: np.ndarray) -> Callable[[], Planes]:
    """The image's profile planes, computed on the first call only (an image whose labels
    have no candidates never needs them)."""
    return functools.cache(lambda: profiles.planes(image))


EDGE_TOP = 150  # candidates (best matcher score first) whose edge fit is measured


def with_rank_features(
    cands: Candidates, planes: Callable[[], Planes], appearance: Appearance | None = None
) -> Candidates:
    """``cands`` with the rankers' own columns appended (after the matcher's features): the
    edge fit (:func:`labeler.matching.profiles.edge_fit`) and the label's ``appearance``
    log-odds (0 without a model). Past the :data:`EDGE_TOP` best (rarely shown): a weak fit
    and the model's base rate."""
    n = len(cands)
    unmeasured = 0.0 if appearance is None else appearance.base_log_odds
    extra = np.tile([0.0, 0.5, unmeasured], (n, 1))
    top = np.argsort(-cands.scores, kind="stable")[:EDGE_TOP]
    if len(top):
        if appearance is None:  # no model reads the HOG rows: the profiles alone
            extra[top, :2] = profiles.edge_fit(profiles.box_profiles(planes(), cands.boxes[top]))
        else:
            rows, looks = profiles.box_looks(planes(), cands.boxes[top])
            extra[top, :2] = profiles.edge_fit(rows)
            extra[top, 2] = appearance.log_odds(looks)
    features = np.column_stack([cands.features.reshape(n, -1), extra])
    return Candidates(cands.boxes, cands.scores, cands.labels, features)


@dataclass(frozen=True, eq=False)
class Ranked:
    """One label's candidates after ranking: ``cands`` (tightened where it helped), their
    probabilities ``p`` ``(N,)``, ``order``, the indices to show, best first, and
    ``held_back``, how many more were worth showing but the label has not earned yet."""

    cands: Candidates
    p: np.ndarray
    order: np.ndarray
    held_back: int = 0


def rank_label(
    cands: Candidates,
    models: LabelModels,
    *,
    blocked: BlockedRule,
    planes: Callable[[], Planes],
    already_shown: int = 0,
    min_score: float | None = None,
    batch: bool = False,
) -> Ranked:
    """Rank one label's candidates ``cands`` and choose the ones to show.

    ``blocked`` says which candidates a staying box rules out; ``planes`` gives the image's
    profile planes (for the edge fit and the regressor; the caller computes them once per
    image); ``already_shown`` of the label's proposals on the image count against the
    per-image cap; ``min_score`` (calibrated, 0..1) cuts further when given; ``batch``
    work is not held to what the label has earned (:func:`labeler.prelabel.learning.earned`).
    """
    cands = with_rank_features(cands, planes, models.appearance)
    p, p_useful = learning.score((models.accepted, models.useful), cands.features)
    ok = ~blocked(cands)
    if models.boxfit is not None and len(cands):
        cands, showable = tightening.tighten(planes(), cands, models.boxfit, p)
        ok &= showable & ~blocked(cands)
    ok = np.flatnonzero(ok)
    worth = ok[
        learning.select_shown(
            p[ok], p_useful=p_useful[ok], already_shown=already_shown, boxes=cands.boxes[ok]
        )
    ]
    if min_score is not None:
        worth = worth[p[worth] >= min_score]
    order = worth if batch else worth[: learning.earned(models.accepted)]
    return Ranked(cands, p, order, held_back=len(worth) - len(order))


def dataset_models(session: Session, *, dataset_id: int) -> dict[int, LabelModels]:
    """What every label of a dataset has learned, by label id (the priors where nothing):
    its stored state read once for rankers and regressors alike."""
    states = learning.dataset_states(session, dataset_id=dataset_id)
    rankers = learning.dataset_rankers(session, dataset_id=dataset_id, states=states)
    fits = tightening.load(session, dataset_id=dataset_id, states=states)
    looks = appearances.load(session, dataset_id=dataset_id, states=states)
    return {
        lab: LabelModels(*pair, boxfit=fits.get(lab), appearance=looks.get(lab))
        for lab, pair in rankers.items()
    }


def image_proposals(
    image: np.ndarray,
    *,
    labels: Sequence[str],
    matcher: Callable[[str], Matcher],
    staying: Callable[[str], list[XYWH]],
    models: Callable[[str], LabelModels],
    min_score: float | None = None,
) -> list[Proposal]:
    """Every label's proposals on ``image`` (batch prelabel): candidates of ``matcher(label)``
    at :data:`labeler.prelabel.learning.MIN_SCORE` off the boxes ``staying(label)``, ranked
    and chosen by :func:`rank_label` with ``models(label)``; scores are probabilities."""
    planes = lazy_planes(image)
    shared = TargetLevels(image)  # the labels' matchers share the image's pyramid
    found: list[Proposal] = []
    for label in labels:
        exclude = staying(label)
        cands = matcher(label).candidates(
            image, exclude=exclude, min_score=MATCHER_MIN_SCORE, shared=shared
        )
        r = rank_label(
            cands.of_label(label), models(label), blocked=blocked_by(exclude), planes=planes,
            min_score=min_score, batch=True,
        )  # fmt: skip
        for i in r.order:
            box = tuple(float(v) for v in r.cands.boxes[i])
            found.append(Proposal(box=box, label=label, score=float(r.p[i])))
    return found
