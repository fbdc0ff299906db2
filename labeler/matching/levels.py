"""Pyramid levels of a target image: feature planes and colour planes per power-of-two factor."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from labeler.matching.appearance import ColourLevel
from labeler.matching.bank import Template
from labeler.matching.ncc import Level
from labeler.matching.preprocess import features, to_float

# A template may hang this fraction of its width/height off the image edge:
# objects cut by the border are common (half the boxes in blood smears).
OVERHANG = 0.5


class TargetLevels:
    """What matchers share on one target image: its halvings, their float colour planes
    and :class:`~labeler.matching.appearance.ColourLevel` per factor, and the feature
    :class:`~labeler.matching.ncc.Level` per factor and colour axis.

    Batch prelabel runs one matcher per label on each image; their templates sit on the
    same few factors, so the resizes, conversions and colour planes are made once per image
    instead of once per label. Every piece is what one matcher alone computes, so the
    candidates are the same with or without sharing. Give one to
    :meth:`labeler.matching.Matcher.candidates` as ``shared``; use it for one image only.

    Parameters
    ----------
    target : numpy.ndarray, shape (H, W) or (H, W, C), uint8 or uint16
    """

    def __init__(self, target: np.ndarray) -> None:
        self.target = target
        self._halved: dict[int, np.ndarray] = {1: target}
        self._colour: dict[tuple, np.ndarray] = {}
        self._colour_levels: dict[tuple, ColourLevel] = {}
        self._levels: dict[tuple, Level] = {}

    def halved(self, factor: int) -> np.ndarray:
        """The raw target resized down ``factor`` (a power of two) times, by halvings."""
        current = max(f for f in self._halved if f <= factor)
        img = self._halved[current]
        # Halving steps: OpenCV's 2x2 area path is SIMD-optimised, and a chain of halvings
        # costs less than one direct /8 resize of a 1080p frame.
        while current < factor:
            size = (max(1, img.shape[1] // 2), max(1, img.shape[0] // 2))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            current *= 2
            self._halved[current] = img
        return img

    def colour(self, factor: int, *, color: bool, rng: tuple[float, float]) -> np.ndarray:
        """Float planes ``(h, w, C)`` of :meth:`halved` (:func:`to_float`)."""
        key = (factor, color, rng)
        if key not in self._colour:
            self._colour[key] = to_float(self.halved(factor), color=color, value_range=rng)
        return self._colour[key]

    def level(
        self,
        factor: int,
        pad: tuple[int, int],
        *,
        color: bool,
        rng: tuple[float, float],
        axis: np.ndarray,
    ) -> tuple[Level, ColourLevel]:
        """The feature level for colour ``axis`` ``(C,)`` with ``pad`` and the colour level
        (one for every axis: it grows its padding when a window needs more)."""
        key = (factor, color, rng)
        colour = self.colour(factor, color=color, rng=rng)
        if key not in self._colour_levels:
            self._colour_levels[key] = ColourLevel(colour, pad)
        feature_key = (*key, tuple(pad), axis.tobytes())
        if feature_key not in self._levels:
            self._levels[feature_key] = Level(features(colour, axis), factor, pad)
        return self._levels[feature_key], self._colour_levels[key]


def pyramid(
    target: np.ndarray,
    pads: dict[int, tuple[int, int]],
    *,
    color: bool,
    rng: tuple[float, float],
    axis: np.ndarray,
    shared: TargetLevels | None = None,
) -> dict[int, tuple[Level, ColourLevel]]:
    """The levels ``pads`` asks for (power-of-two factors), finest first.

    The raw image is resized before the float conversion and the features:
    converting a 1080p frame costs more than matching on its quarter. Each
    level is made from the previous (finer) one, so the full-size image is
    read once however many levels there are. ``shared`` (of ``target``) keeps what
    other matchers on the same image may reuse.
    """
    if shared is None:
        shared = TargetLevels(target)
    elif shared.target is not target:
        raise ValueError("shared levels belong to another target image")
    return {f: shared.level(f, pads[f], color=color, rng=rng, axis=axis) for f in sorted(pads)}


def overhang(t: Template) -> tuple[int, int]:
    """Rows and columns template ``t`` may hang off each image edge, at its level."""
    th, tw = t.planes.shape[:2]
    return int(th * OVERHANG), int(tw * OVERHANG)


def level_pads(overhangs: Iterable[tuple[int, tuple[int, int]]]) -> dict[int, tuple[int, int]]:
    """Per pyramid factor, the most rows and columns any of ``overhangs`` (``(factor, (rows,
    cols))`` of each window matched at that factor) hangs off an image edge."""
    pads: dict[int, tuple[int, int]] = {}
    for factor, (oy, ox) in overhangs:
        py, px = pads.get(factor, (0, 0))
        pads[factor] = (max(py, oy), max(px, ox))
    return pads
