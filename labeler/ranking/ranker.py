"""Per-label re-ranker: candidate features in, calibrated acceptance probability out.

A :class:`Ranker` learns, for one label of one dataset, how likely the
annotator is to accept a candidate of :meth:`labeler.matching.Matcher.candidates`
from its feature row (:data:`RANK_FEATURES`: the matcher's
:data:`labeler.matching.FEATURE_NAMES`, then how well the box sits on the image's edges,
:func:`labeler.matching.profiles.edge_fit`, which tells a tight box from a loose one, and
the log-odds of the label's appearance model, :mod:`labeler.ranking.appearance`). It has
three stages, by how much it has seen:

1. no decisions: :func:`prior` of the matcher score, a fixed and
   conservative map (0.5 -> 0.05, 0.75 -> 0.5, 0.9 -> 0.86), with the odds
   of likely half-boxes (feature ``partial``) divided by 4;
2. a few decisions (fewer than :data:`MIN_EACH` accepted or rejected): the
   prior shifted in log-odds by how the label's decisions so far compare with
   what the prior expected (accepted vs expected accepted, rejected vs
   expected rejected, each +1 smoothed), so a label whose proposals keep
   being rejected sinks towards 0 after a handful of rejections; an upward
   shift applies in full only to candidates at least as likely (by the prior)
   as the weakest one decided, and at most :data:`MAX_SHIFT_UP` below that;
3. enough of both: a logistic regression on standardised features, which is
   calibrated by construction (its log-loss fit makes mean predicted = mean
   observed in every direction of the feature space it uses).

Immutable: :meth:`Ranker.update` returns a new ranker. :meth:`Ranker.to_dict`
is JSON-serialisable (coefficients, counts and the matcher version, not the
training rows) so it can be stored per label and rebuilt without refitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labeler.matching import FEATURE_NAMES, MATCHER_VERSION
from labeler.matching.profiles import EDGE_FEATURES

RANKER_VERSION = 5  # 5: the appearance column is the HOG model's (appearance version 2)
# The matcher's features, how well the box sits on edges (labeler.matching.profiles), and
# the label's appearance model's log-odds (labeler.ranking.appearance; 0 without one).
RANK_FEATURES = (*FEATURE_NAMES, *EDGE_FEATURES, "appearance")
MIN_EACH = 8
# Training rows kept for refits per label: the newest win (the annotator's
# standard and the bank drift as a dataset is labelled).
MAX_ROWS = 4000
# Prior: logistic in the matcher score. Centre and slope were read off the
# reliability of the raw score on two dev sets, then made more conservative
# (lower) than either: a proposal shown in error costs a verify (1.6 s).
PRIOR_CENTRE, PRIOR_SLOPE = 0.75, 12.0
# L2 strength: features are standardised, and a few dozen decisions must not
# produce extreme probabilities.
C_REG = 0.5
PARTIAL_ODDS = 4.0
# Largest upward counts-stage shift (log-odds) for candidates weaker than any decided.
MAX_SHIFT_UP = 1.0
PARTIAL_COL = FEATURE_NAMES.index("partial")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def prior(score: np.ndarray) -> np.ndarray:
    """Acceptance probability ``(N,)`` from matcher scores ``(N,)`` alone."""
    return _sigmoid(PRIOR_SLOPE * (np.asarray(score, np.float64) - PRIOR_CENTRE))


def _prior_rows(x: np.ndarray) -> np.ndarray:
    """:func:`prior` of feature rows ``(N, F)``; a ``partial`` match (of an
    exemplar cut by the image edge, away from that edge: likely a half-box)
    has its odds divided by :data:`PARTIAL_ODDS` until decisions say otherwise."""
    p = prior(x[:, 0])
    if x.shape[1] >= len(FEATURE_NAMES):
        part = x[:, PARTIAL_COL] > 0.5
        odds = p / np.maximum(1 - p, 1e-9)
        p = np.where(part, odds / PARTIAL_ODDS / (1 + odds / PARTIAL_ODDS), p)
    return p


@dataclass(frozen=True, eq=False)
class Ranker:
    """Calibrated acceptance probability for one label's candidates.

    Build with :meth:`Ranker.prior` then :meth:`update`, or :meth:`fit`;
    restore with :meth:`from_dict`. Feature rows are ``(N, F)`` with
    ``F = len(RANK_FEATURES)`` columns in that order; column 0 is the score.
    """

    n_pos: int = 0
    n_neg: int = 0
    expected_pos: float = 0.0
    # Lowest prior log-odds among the decided rows: an upward shift is evidence
    # about candidates like those decided, not about weaker ones below them.
    floor_logit: float = 0.0
    mean: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None
    coef: tuple[float, ...] | None = None
    intercept: float = 0.0
    matcher_version: str = MATCHER_VERSION
    _rows: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def prior(cls) -> Ranker:
        """A ranker that has seen no decisions."""
        return cls()

    @classmethod
    def fit(cls, *, features: np.ndarray, accepted: np.ndarray) -> Ranker:
        """Fit on decision rows: ``features`` ``(N, F)``, ``accepted`` ``(N,)`` bool."""
        x = np.asarray(features, np.float64).reshape(len(accepted), -1)[-MAX_ROWS:]
        y = np.asarray(accepted, bool).reshape(-1)[-MAX_ROWS:]
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        p0 = _prior_rows(x) if len(x) else np.zeros(0)
        expected = float(p0.sum())
        floor = float(_logit(p0).min()) if len(x) else 0.0
        base = dict(
            n_pos=n_pos, n_neg=n_neg, expected_pos=expected, floor_logit=floor, _rows=(x, y)
        )
        if n_pos < MIN_EACH or n_neg < MIN_EACH:
            return cls(**base)
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(axis=0)
        scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
        model = LogisticRegression(C=C_REG, max_iter=500)
        model.fit((x - mean) / scale, y)
        return cls(
            **base,
            mean=tuple(mean.tolist()),
            scale=tuple(scale.tolist()),
            coef=tuple(model.coef_[0].tolist()),
            intercept=float(model.intercept_[0]),
        )

    def update(self, *, features: np.ndarray, accepted: np.ndarray) -> Ranker:
        """A ranker refitted with these decisions added to the ones it holds.

        A ranker restored by :meth:`from_dict` holds no rows: the caller then
        refits with :meth:`fit` on the stored decisions instead.
        """
        y = np.asarray(accepted, bool).reshape(-1)
        if len(y) == 0:
            return self
        x = np.asarray(features, np.float64).reshape(len(y), -1)
        if self._rows is not None:
            x, y = np.vstack([self._rows[0], x]), np.concatenate([self._rows[1], y])
        return Ranker.fit(features=x, accepted=y)

    @property
    def stage(self) -> str:
        """``"prior"``, ``"counts"`` or ``"model"``: which stage predicts."""
        if self.coef is not None:
            return "model"
        return "counts" if self.n_pos + self.n_neg else "prior"

    def predict(self, *, features: np.ndarray) -> np.ndarray:
        """Acceptance probabilities ``(N,)`` for feature rows ``(N, F)``."""
        x = np.asarray(features, np.float64)
        if x.size == 0:
            return np.zeros(0)
        x = x.reshape(len(x), -1)
        if self.coef is not None and x.shape[1] == len(self.coef):
            z = ((x - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.coef)
            return _sigmoid(z + self.intercept)
        z0 = _logit(_prior_rows(x))
        # Observed vs expected accepts and rejects, +1 smoothed: log-odds shift.
        n = self.n_pos + self.n_neg
        shift = np.log((self.n_pos + 1.0) / (self.expected_pos + 1.0)) - np.log(
            (self.n_neg + 1.0) / (n - self.expected_pos + 1.0)
        )
        # Downward shifts apply to all; an upward one in full only within the
        # decided range, capped below it (no decisions vouch for those).
        if shift > 0:
            shift = np.where(z0 >= self.floor_logit, shift, min(shift, MAX_SHIFT_UP))
        return _sigmoid(z0 + shift)

    def to_dict(self) -> dict:
        """JSON-serialisable state (no training rows)."""
        return {
            "ranker_version": RANKER_VERSION,
            "matcher_version": self.matcher_version,
            "features": list(RANK_FEATURES),
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
            "expected_pos": self.expected_pos,
            "floor_logit": self.floor_logit,
            "mean": None if self.mean is None else list(self.mean),
            "scale": None if self.scale is None else list(self.scale),
            "coef": None if self.coef is None else list(self.coef),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, state: dict) -> Ranker:
        """Restore :meth:`to_dict` output; a state from another matcher or
        ranker version, or other features, gives the prior (refit needed)."""
        if (
            state.get("ranker_version") != RANKER_VERSION
            or state.get("matcher_version") != MATCHER_VERSION
            or state.get("features") != list(RANK_FEATURES)
        ):
            return cls.prior()

        def tup(key: str) -> tuple[float, ...] | None:
            v = state.get(key)
            return None if v is None else tuple(float(a) for a in v)

        return cls(
            n_pos=int(state["n_pos"]),
            n_neg=int(state["n_neg"]),
            expected_pos=float(state["expected_pos"]),
            floor_logit=float(state["floor_logit"]),
            mean=tup("mean"),
            scale=tup("scale"),
            coef=tup("coef"),
            intercept=float(state["intercept"]),
        )
