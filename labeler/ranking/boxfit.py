"""Per-label box regressor: where this annotator puts a box's edges, learnt from their boxes.

A :class:`BoxFit` predicts, from the edge and intensity profiles around a candidate box and
its window's gradient orientation histograms (:func:`fit_rows`), the step to the box the
annotator would draw (:func:`labeler.matching.profiles.deltas`): a ridge regression per
label, trained on the label's accepted boxes jittered as the matcher misplaces them (an
R-CNN style box regressor, with the dataset's own boxes as the only training data, so it
learns loose hand-drawn boxes as well as exact ones). Applied twice
(:meth:`BoxFit.tighten`): the second step starts from a box nearer the object, where the
profiles say more, so it is a regressor of its own (:meth:`BoxFit.then`, as in Cascade
R-CNN) when one fitted on boxes jittered half as far helps on held-out images. Offline
(``scripts/eval_boxfit.py``, first 40 images), against the first regressor applied twice,
true boxes with a tightened candidate at IoU >= 0.7 / 0.85: blood cells 0.70 / 0.25 -> 0.72 /
0.33, synthetic scenes 0.48 / 0.33 -> 0.50 / 0.39, Hubble tiles 0.30 / 0.11 -> 0.34 / 0.13.

It must never make boxes worse: :meth:`BoxFit.fit` holds out the newest images' boxes and
returns ``None`` (keep the matcher's boxes) unless the tightened boxes overlap their
truth better than the untightened ones there.

The histograms joined the profiles in version 2: offline (``scripts/eval_boxfit.py``), the
share of true boxes with a tightened candidate at IoU >= 0.7 rose 0.58 -> 0.66 on blood
cells, 0.56 -> 0.63 on synthetic scenes and 0.43 -> 0.46 on the Hubble tiles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from labeler.matching.geometry import iou_pairs
from labeler.matching.profiles import (
    FEATURE_COUNT,
    HOG_COUNT,
    Planes,
    apply_deltas,
    box_looks,
    deltas,
)

BOXFIT_VERSION = 2
ROW_COUNT = FEATURE_COUNT + HOG_COUNT
MIN_BOXES = 8  # true boxes of a label before a fit is tried
# Ridge strengths on standardised features tried by each fit (a few dozen boxes, 276 numbers
# each: must not overfit), the best on held-out images kept.
ALPHAS = (10.0, 30.0, 100.0, 300.0, 1000.0)
MAX_STEP = 0.5  # per step and coordinate (a third of a box's size, or exp(0.5) = 1.65x)
STEPS = 2
HOLD_OUT = 0.25  # share of the newest images held out to check a fit helps
MIN_GAIN = 0.005  # mean IoU a fit must add on the held-out boxes to be used


def fit_rows(planes: Planes, boxes: np.ndarray) -> np.ndarray:
    """The regressor's feature rows ``(N, ROW_COUNT)`` of ``boxes`` ``(N, 4)``: profiles,
    then HOG (:func:`labeler.matching.profiles.box_looks`)."""
    return np.hstack(box_looks(planes, boxes))


@dataclass(frozen=True, eq=False)
class BoxFit:
    """A fitted regressor: standardisation, ``coef`` ``(4, F)`` and ``intercept`` ``(4,)``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    n_boxes: int = 0
    gain: float = 0.0  # held-out mean IoU gained, for the record
    alpha: float = 0.0  # the ridge strength chosen, for the record
    second: BoxFit | None = None  # the later steps' regressor (None: this one again)

    @classmethod
    def fit(
        cls,
        *,
        features: np.ndarray,
        boxes: np.ndarray,
        truth: np.ndarray,
        groups: np.ndarray,
    ) -> BoxFit | None:
        """Fit on jittered ``boxes`` ``(N, 4)`` with their ``features`` ``(N, F)`` and
        ``truth`` ``(N, 4)``; ``groups`` ``(N,)`` orders rows by image (higher is newer).
        ``None`` when there are too few boxes or the fit does not help on held-out images."""
        x = np.asarray(features, np.float64).reshape(-1, ROW_COUNT)
        b, t = np.asarray(boxes, np.float64), np.asarray(truth, np.float64)
        g = np.asarray(groups).reshape(-1)
        n_boxes = len(np.unique(t, axis=0))
        if n_boxes < MIN_BOXES:
            return None
        names = np.unique(g)
        held = names[len(names) - max(int(len(names) * HOLD_OUT), 1) :]
        test = np.isin(g, held)
        if len(names) < 2 or test.all():  # one image: hold out every fourth row instead
            test = np.arange(len(g)) % 4 == 3
        before = iou_pairs(b[test], t[test]).mean()
        # The ridge strength that tightens the held-out boxes best: how much the window's
        # numbers can say differs by label (measured best: 100 on synthetic scenes, 300 on
        # Hubble tiles, 1000 on blood cells' loosely drawn boxes).
        gains = []
        for alpha in ALPHAS:
            trial = cls._solve(x[~test], deltas(b[~test], t[~test]), alpha)
            gains.append(iou_pairs(trial.tighten_rows(x[test], b[test]), t[test]).mean() - before)
        best = int(np.argmax(gains))
        if gains[best] < MIN_GAIN:
            return None
        full = cls._solve(x, deltas(b, t), ALPHAS[best])
        return cls(full.mean, full.scale, full.coef, full.intercept,
                   n_boxes=n_boxes, gain=float(gains[best]), alpha=ALPHAS[best])  # fmt: skip

    @classmethod
    def _solve(cls, x: np.ndarray, y: np.ndarray, alpha: float) -> BoxFit:
        from sklearn.linear_model import Ridge

        mean = x.mean(axis=0)
        sd = x.std(axis=0)
        scale = np.where(sd > 1e-9, sd, 1.0)
        model = Ridge(alpha=alpha).fit((x - mean) / scale, y)
        return cls(mean, scale, np.asarray(model.coef_), np.asarray(model.intercept_))

    def step(self, features: np.ndarray) -> np.ndarray:
        """Predicted :func:`~labeler.matching.profiles.deltas` ``(N, 4)``, each clipped."""
        x = (np.asarray(features, np.float64).reshape(-1, ROW_COUNT) - self.mean) / self.scale
        return np.clip(x @ self.coef.T + self.intercept, -MAX_STEP, MAX_STEP)

    def then(self, second: BoxFit | None) -> BoxFit:
        """This regressor for the first step and ``second`` (fitted on boxes nearer their
        truth, :func:`labeler.matching.profiles.jittered` with a smaller ``spread``) for
        the later ones; ``None`` keeps this one for every step."""
        return dataclasses.replace(self, second=None if second is None else second.then(None))

    def tighten_rows(self, features: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """One step from precomputed ``features`` (the held-out check)."""
        return apply_deltas(boxes, self.step(features))

    def tighten(self, planes: Planes, boxes: np.ndarray, *, steps: int = STEPS) -> np.ndarray:
        """``boxes`` ``(N, 4)`` on the image of ``planes`` after ``steps`` regression steps."""
        out = np.asarray(boxes, np.float64).reshape(-1, 4)
        for k in range(steps):
            if not len(out):
                break
            model = self if k == 0 or self.second is None else self.second
            out = apply_deltas(out, model.step(fit_rows(planes, out)))
        return out

    def to_dict(self) -> dict:
        return {
            "boxfit_version": BOXFIT_VERSION,
            "features": ROW_COUNT,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "n_boxes": self.n_boxes,
            "gain": self.gain,
            "alpha": self.alpha,
            "second": None if self.second is None else self.second.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: dict | None) -> BoxFit | None:
        """Restore :meth:`to_dict` output; ``None`` for another version or feature set."""
        if (
            not state
            or state.get("boxfit_version") != BOXFIT_VERSION
            or state.get("features") != ROW_COUNT
        ):
            return None
        return cls(
            np.array(state["mean"], np.float64),
            np.array(state["scale"], np.float64),
            np.array(state["coef"], np.float64).reshape(4, ROW_COUNT),
            np.array(state["intercept"], np.float64).reshape(4),
            n_boxes=int(state.get("n_boxes", 0)),
            gain=float(state.get("gain", 0.0)),
            alpha=float(state.get("alpha", 0.0)),
            second=cls.from_dict(state.get("second")),
        )
