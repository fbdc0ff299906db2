"""Learning from the annotator's decisions: re-rank candidates, calibrate, choose what to show.

Public API::

    from labeler.ranking import Ranker, choose, diverse_subset, descriptors
    cands = matcher.candidates(image, min_score=0.2)      # labeler.matching
    p = rankers[label].predict(features=cands.features)   # calibrated P(accept)
    shown = choose(p)                                     # expected saving > 0
    rankers[label] = rankers[label].update(features=f, accepted=y)

Depends on numpy, scikit-learn and :mod:`labeler.matching` only.
"""

from __future__ import annotations

from labeler.ranking.ranker import MIN_EACH, RANK_FEATURES, RANKER_VERSION, Ranker, prior
from labeler.ranking.select import choose, descriptors, diverse_subset, threshold

__all__ = [
    "MIN_EACH",
    "RANK_FEATURES",
    "RANKER_VERSION",
    "Ranker",
    "choose",
    "descriptors",
    "diverse_subset",
    "prior",
    "threshold",
]
