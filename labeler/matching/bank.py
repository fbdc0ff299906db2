"""Exemplars and the template bank built from them once per :class:`Matcher`.

A template is one exemplar at one scale, rotation and flip, resized to the
pyramid level it is matched at. Levels are powers of two chosen per template
so that the resized template keeps at least :data:`MIN_SIDE` pixels: big
objects are matched on a small image (fast), small ones at full size
(accurate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from labeler.matching.geometry import Box, box_inside
from labeler.matching.ncc import template_integrals, unit_template
from labeler.matching.preprocess import (
    VAR_FLOOR,
    check_image,
    is_color,
    resize,
    to_float,
    value_range,
    window_variance,
)

MIN_BOX_SIDE = 4
# Smallest template side (pixels) kept at a pyramid level; under ~12 px the
# NCC of a downsampled template stops telling objects apart.
MIN_SIDE = 12
FACTORS = (8, 4, 2, 1)


@dataclass(frozen=True, eq=False)
class Exemplar:
    """One example object: a box drawn on an image.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, C), uint8 or uint16
        Gray, BGR or BGRA. May be another image than the match target.
    box : tuple of 4 numbers
        ``(x, y, w, h)`` in pixels of ``image``, top-left origin: x is the column.
    label : str
        Class name given to the proposals this exemplar produces.

    Raises
    ------
    ValueError
        Bad image, box outside the image, ``w`` or ``h`` under 4 px, or a flat
        (constant) box content.
    """

    image: np.ndarray
    box: Box
    label: str = "object"

    def __post_init__(self) -> None:
        check_image(self.image, "exemplar image")
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"exemplar label must be a non-empty string, got {self.label!r}")
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            msg = f"exemplar box must be (x, y, w, h) numbers, got {self.box!r}"
            raise ValueError(msg) from None
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f"exemplar box must be 4 finite numbers (x, y, w, h): {self.box!r}")
        object.__setattr__(self, "box", box)
        x, y, w, h = box
        if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
            raise ValueError(
                f"exemplar box {box} is too small: w and h must be >= {MIN_BOX_SIDE} px"
            )
        ih, iw = self.image.shape[:2]
        if not box_inside(box, iw, ih):
            raise ValueError(f"exemplar box {box} is outside its {iw}x{ih} image")
        object.__setattr__(self, "_range", value_range(self.image))
        if window_variance(self.crop(color=is_color(self.image))) < VAR_FLOOR:
            raise ValueError(f"exemplar box {box} ({self.label!r}) is flat (constant content)")

    @property
    def size(self) -> tuple[float, float]:
        """``(w, h)`` of the box in pixels."""
        return self.box[2], self.box[3]

    def crop(self, *, color: bool, angle: float = 0.0) -> np.ndarray:
        """The box content as float planes, shape ``(round(h), round(w), C)``.

        ``angle`` (degrees, counter-clockwise) rotates the image about the box
        centre first, so the corners are filled by real surroundings, not black.
        """
        x, y, w, h = self.box
        # Convert only a window around the box (converting a whole 1080p frame
        # per variant would dominate bank building), big enough for rotation.
        ih, iw = self.image.shape[:2]
        m = int(math.ceil(math.hypot(w, h) / 2)) if angle else 0
        ox, oy = max(int(x) - m, 0), max(int(y) - m, 0)
        ey, ex = min(math.ceil(y + h) + m, ih), min(math.ceil(x + w) + m, iw)
        raw = self.image[oy:ey, ox:ex]
        planes = to_float(raw, color=color, value_range=self._range)
        x, y = x - ox, y - oy
        if angle:
            centre = (x + w / 2.0, y + h / 2.0)
            rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
            planes = cv2.warpAffine(
                planes,
                rot,
                (planes.shape[1], planes.shape[0]),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
            planes = planes if planes.ndim == 3 else planes[:, :, None]
        x0, y0 = int(round(x)), int(round(y))
        x1 = min(max(int(round(x + w)), x0 + 1), planes.shape[1])
        y1 = min(max(int(round(y + h)), y0 + 1), planes.shape[0])
        return planes[y0:y1, x0:x1]


@dataclass(frozen=True, eq=False)
class Template:
    """One exemplar variant at one scale, ready to correlate.

    ``size`` is the box size ``(w, h)`` in target pixels; ``planes`` is the
    unit template ``(rows, cols, C)`` at pyramid level ``factor``.
    """

    exemplar: int
    label: str
    scale: float
    variant: tuple[float, str]
    size: tuple[float, float]
    factor: int
    planes: np.ndarray
    integrals: tuple[np.ndarray, np.ndarray]


def level_factor(w: float, h: float) -> int:
    """Largest power-of-two factor that keeps ``min(w, h) / factor >= MIN_SIDE``."""
    for f in FACTORS:
        if min(w, h) / f >= MIN_SIDE:
            return f
    return 1


def variants(rotations: tuple[float, ...], flips: bool) -> list[tuple[float, str]]:
    """``(angle, flip)`` pairs to build; flip is ``""``, ``"h"`` or ``"v"``."""
    out = [(0.0, "")] + [(float(a), "") for a in rotations if a]
    if flips:
        out += [(0.0, "h"), (0.0, "v")]
    return out


def build_bank(
    exemplars: list[Exemplar],
    *,
    color: bool,
    scales: tuple[float, ...],
    rotations: tuple[float, ...],
    flips: bool,
) -> list[Template]:
    """Every template for ``exemplars``: exemplar x variant x scale.

    Templates smaller than :data:`MIN_BOX_SIDE` at some scale are skipped.
    """
    bank: list[Template] = []
    for i, ex in enumerate(exemplars):
        w, h = ex.size
        for angle, flip in variants(rotations, flips):
            crop = ex.crop(color=color, angle=angle)
            if flip == "h":
                crop = crop[:, ::-1]
            elif flip == "v":
                crop = crop[::-1]
            for s in scales:
                tw, th = w * s, h * s
                if min(tw, th) < MIN_BOX_SIDE:
                    continue
                f = level_factor(tw, th)
                small = resize(np.ascontiguousarray(crop), round(tw / f), round(th / f))
                planes = unit_template(small)
                bank.append(
                    Template(
                        i,
                        ex.label,
                        float(s),
                        (angle, flip),
                        (tw, th),
                        f,
                        planes,
                        template_integrals(planes),
                    )
                )
    return bank


def check_exemplar_fits(exemplars: list[Exemplar], width: int, height: int) -> None:
    """Raise ``ValueError`` if any exemplar box is larger than a target image."""
    for i, ex in enumerate(exemplars):
        w, h = ex.size
        if w > width or h > height:
            raise ValueError(
                f"exemplar {i} ({ex.label!r}, {w:g}x{h:g} px) is larger than the "
                f"{width}x{height} target"
            )


__all__ = ["Exemplar", "Template", "build_bank", "check_exemplar_fits", "check_image"]
