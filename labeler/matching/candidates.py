"""Scored candidates with a feature vector each, for a re-ranker (:mod:`labeler.ranking`).

:meth:`labeler.matching.Matcher.candidates` returns a :class:`Candidates`:
the refined, NMS-filtered boxes that :meth:`~labeler.matching.Matcher.match`
would turn into proposals, plus one row of :data:`FEATURE_NAMES` per box.
Features are cheap by-products of matching, all comparable across images
and labels (relative to the exemplars, not in pixels):

``score``          final matcher score (refined edge NCC x colour gate), 0..1
``edge``           edge NCC of the correlation stage (coarse level)
``refined``        edge NCC after box refinement (finer level)
``gate``           colour gate factor, 0..1 (:mod:`labeler.matching.appearance`)
``dark``/``light`` chroma distances of the darkest / lightest parts
``log_w``/``log_h`` log of the box width / height over the exemplar group's
``log_aspect``     ``log_w - log_h``
``cut``            fraction of the (unclipped) box outside the image
``rel_score``      score over the best score of the label in this image
``rank``           log(1 + rank of the score within the label in this image)
``crowd``          max IoU with another candidate of the label
``texture``        log of the box's gradient energy per pixel over the exemplar's
``partial``        1 for a match, away from that edge, of an exemplar cut by the image edge
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labeler.matching.geometry import crowding

FEATURE_NAMES = (
    "score",
    "edge",
    "refined",
    "gate",
    "dark",
    "light",
    "log_w",
    "log_h",
    "log_aspect",
    "cut",
    "rel_score",
    "rank",
    "crowd",
    "texture",
    "partial",
)


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidates of one target, best score first.

    Attributes
    ----------
    boxes : numpy.ndarray, shape (N, 4), float64
        ``(x, y, w, h)`` in target pixels, clipped to the image.
    scores : numpy.ndarray, shape (N,), float64
        Matcher scores in [0, 1] (as :class:`~labeler.matching.Proposal`).
    labels : tuple of str, length N
    features : numpy.ndarray, shape (N, len(FEATURE_NAMES)), float64
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: tuple[str, ...]
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def of_label(self, label: str) -> Candidates:
        """The candidates of one label."""
        sel = np.array([lab == label for lab in self.labels], bool)
        return Candidates(
            self.boxes[sel],
            self.scores[sel],
            tuple(label for _ in range(sel.sum())),
            self.features[sel],
        )

    @staticmethod
    def empty() -> Candidates:
        return Candidates(np.zeros((0, 4)), np.zeros(0), (), np.zeros((0, len(FEATURE_NAMES))))


def assemble(
    *,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: list[str],
    edge: np.ndarray,
    refined: np.ndarray,
    gate: np.ndarray,
    dark: np.ndarray,
    light: np.ndarray,
    rel_size: np.ndarray,
    cut: np.ndarray,
    texture: np.ndarray,
    partial: np.ndarray,
) -> np.ndarray:
    """Feature matrix ``(N, len(FEATURE_NAMES))`` for N candidates sorted best first.

    ``rel_size`` is ``(N, 2)``: box ``(w, h)`` over the exemplar group's; the
    other inputs are ``(N,)`` as described in the module docstring.
    """
    n = len(scores)
    rel, rank, crowd = np.ones(n), np.zeros(n), np.zeros(n)
    lab = np.array(labels, dtype=object)
    for name in set(labels):
        sel = np.flatnonzero(lab == name)
        s = scores[sel]
        rel[sel] = s / max(float(s.max()), 1e-6)
        # Rank within the label: scores are sorted best first overall already.
        rank[sel] = np.log1p(np.argsort(np.argsort(-s, kind="stable"), kind="stable"))
        crowd[sel] = crowding(boxes[sel])
    log_size = np.log(np.maximum(rel_size, 1e-6))
    cols = [
        scores,
        edge,
        refined,
        gate,
        dark,
        light,
        log_size[:, 0],
        log_size[:, 1],
        log_size[:, 0] - log_size[:, 1],
        cut,
        rel,
        rank,
        crowd,
        texture,
        partial,
    ]
    return np.column_stack([np.asarray(c, np.float64).reshape(n) for c in cols]).reshape(
        n, len(FEATURE_NAMES)
    )
