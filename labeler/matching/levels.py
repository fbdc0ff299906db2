"""Pyramid levels of a target image: feature planes and colour planes per power-of-two factor."""

from __future__ import annotations

import cv2
import numpy as np

from labeler.matching.appearance import ColourLevel
from labeler.matching.bank import Template
from labeler.matching.ncc import Level
from labeler.matching.preprocess import features, to_float

# A template may hang this fraction of its width/height off the image edge:
# objects cut by the border are common (half the boxes in blood smears).
OVERHANG = 0.5


def pyramid(
    target: np.ndarray,
    pads: dict[int, tuple[int, int]],
    *,
    color: bool,
    rng: tuple[float, float],
    axis: np.ndarray,
) -> dict[int, tuple[Level, ColourLevel]]:
    """The levels ``pads`` asks for (power-of-two factors), finest first.

    The raw image is resized before the float conversion and the features:
    converting a 1080p frame costs more than matching on its quarter. Each
    level is made from the previous (finer) one, so the full-size image is
    read once however many levels there are.
    """
    img, out, current = target, {}, 1
    for factor in sorted(pads):
        # Halving steps: OpenCV's 2x2 area path is SIMD-optimised, and a chain
        # of halvings costs less than one direct /8 resize of a 1080p frame.
        while current < factor:
            size = (max(1, img.shape[1] // 2), max(1, img.shape[0] // 2))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            current *= 2
        colour = to_float(img, color=color, value_range=rng)
        out[factor] = (
            Level(features(colour, axis), factor, pads[factor]),
            ColourLevel(colour, pads[factor]),
        )
    return out


def overhang(t: Template) -> tuple[int, int]:
    """Rows and columns template ``t`` may hang off each image edge, at its level."""
    th, tw = t.planes.shape[:2]
    return int(th * OVERHANG), int(tw * OVERHANG)
