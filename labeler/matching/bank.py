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

from labeler.matching._exemplar_sets import colour_axis, groups
from labeler.matching.appearance import ColourTemplate, colour_template
from labeler.matching.geometry import XYWH, box_inside
from labeler.matching.ncc import template_integrals, unit_template
from labeler.matching.preprocess import (
    VAR_FLOOR,
    check_image,
    features,
    is_color,
    resize,
    to_float,
    value_range,
    window_variance,
)

MIN_BOX_SIDE = 4
# Smallest template side (pixels) kept at a pyramid level. On the benchmark
# 10, 12 and 16 px gave the same AP (8 px lost 0.06); 10 keeps a ~90 px
# object's smallest scale on the /8 level, 2.5x faster on a 1080p frame.
MIN_SIDE = 10
FACTORS = (8, 4, 2, 1)
# Full-resolution pixels of context kept around a template while resizing
# and filtering it, so its edges are filtered like the target's.
MARGIN = 16


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
    box: XYWH
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
    def clipped(self) -> tuple[bool, bool, bool, bool]:
        """Which sides ``(left, top, right, bottom)`` of the box lie on the image
        edge (within 1 px): the object may go on past them, so the box may be
        a part of it."""
        x, y, w, h = self.box
        ih, iw = self.image.shape[:2]
        return (x <= 1.0, y <= 1.0, x + w >= iw - 1.0, y + h >= ih - 1.0)

    @property
    def size(self) -> tuple[float, float]:
        """``(w, h)`` of the box in pixels."""
        return self.box[2], self.box[3]

    def crop(self, *, color: bool, angle: float = 0.0, margin: int = 0) -> np.ndarray:
        """The box content as float planes ``(round(h) + 2m, round(w) + 2m, C)``.

        ``margin`` adds ``m`` pixels of surroundings on each side (mirrored
        where the image ends), so filters run on the template see real context.
        ``angle`` (degrees, counter-clockwise) rotates the image about the box
        centre first, so the corners are filled by real surroundings, not black.
        """
        x, y, w, h = self.box
        # Convert only a window around the box (converting a whole 1080p frame
        # per variant would dominate bank building), big enough for rotation.
        ih, iw = self.image.shape[:2]
        m = margin + (int(math.ceil(math.hypot(w, h) / 2)) if angle else 0)
        x0, y0 = int(round(x)), int(round(y))
        x1 = min(max(int(round(x + w)), x0 + 1), iw)
        y1 = min(max(int(round(y + h)), y0 + 1), ih)
        ox, oy = max(x0 - m, 0), max(y0 - m, 0)
        raw = self.image[oy : min(y1 + m, ih), ox : min(x1 + m, iw)]
        planes = to_float(raw, color=color, value_range=self._range)
        pads = (
            m - (y0 - oy),
            m - (min(y1 + m, ih) - y1),
            m - (x0 - ox),
            m - (min(x1 + m, iw) - x1),
        )
        if any(pads):
            planes = cv2.copyMakeBorder(planes, *pads, cv2.BORDER_REFLECT_101)
            planes = planes if planes.ndim == 3 else planes[:, :, None]
        if angle:
            centre = (m + (x - x0) + w / 2.0, m + (y - y0) + h / 2.0)
            rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
            size = (planes.shape[1], planes.shape[0])
            planes = cv2.warpAffine(planes, rot, size, flags=cv2.INTER_LINEAR)
            planes = planes if planes.ndim == 3 else planes[:, :, None]
        cut = m - margin
        return planes[cut : planes.shape[0] - cut, cut : planes.shape[1] - cut]


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
    colour: ColourTemplate


def level_factor(w: float, h: float) -> int:
    """Largest power-of-two factor that keeps ``min(w, h) / factor >= MIN_SIDE``.

    Per template, not per exemplar: putting all scales of an exemplar on one
    shared level (fewer resizes) measured no faster and lost ~0.02 AP.
    """
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
    axis: np.ndarray,
    fuse: bool = True,
) -> list[Template]:
    """Every template for ``exemplars``: exemplar group x variant x scale.

    Exemplars of one label and similar size (see :func:`groups`) are fused
    into one template: the mean of their unit templates, resized to the
    group's median box size. Averaging keeps what the examples share and
    washes out what is particular to one (a neighbour touching it, noise),
    and costs one correlation instead of k. Templates smaller than
    :data:`MIN_BOX_SIDE` at some scale are skipped.
    """
    bank: list[Template] = []
    for group in groups(exemplars) if fuse else [[i] for i in range(len(exemplars))]:
        w = float(np.median([exemplars[i].size[0] for i in group]))
        h = float(np.median([exemplars[i].size[1] for i in group]))
        for angle, flip in variants(rotations, flips):
            crops = []
            for i in group:
                crop = exemplars[i].crop(color=color, angle=angle, margin=MARGIN)
                if flip == "h":
                    crop = crop[:, ::-1]
                elif flip == "v":
                    crop = crop[::-1]
                crops.append(np.ascontiguousarray(crop))
            # The colours of the dark and light parts hardly depend on the
            # scale: computed once, on the first (smallest) scale's crops.
            colour = None
            for s in scales:
                tw, th = w * s, h * s
                if min(tw, th) < MIN_BOX_SIDE:
                    continue
                f = level_factor(tw, th)
                # Resize with the margin, compute features, then cut the box:
                # the same order as for the target (resize, then features).
                mw, mh = round(tw / f), round(th / f)
                mx = max(1, round(MARGIN * s / f))
                acc, pieces = None, []
                for crop in crops:
                    big = resize(crop, mw + 2 * mx, mh + 2 * mx)
                    unit = unit_template(features(big, axis)[mx : mx + mh, mx : mx + mw])
                    acc = unit if acc is None else acc + unit
                    pieces.append(big[mx : mx + mh, mx : mx + mw])
                colour = colour or colour_template(pieces)
                planes = unit_template(acc)
                ints = template_integrals(planes)
                label = exemplars[group[0]].label
                bank.append(
                    Template(
                        group[0],
                        label,
                        float(s),
                        (angle, flip),
                        (tw, th),
                        f,
                        planes,
                        ints,
                        colour,
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


__all__ = [
    "Exemplar",
    "Template",
    "build_bank",
    "check_exemplar_fits",
    "check_image",
    "colour_axis",
    "groups",
]
