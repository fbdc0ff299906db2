"""Stretched templates for box refinement (:mod:`labeler.matching.refine`).

A :class:`RefineGroup` holds one fused exemplar group's crops and builds,
on demand, its template stretched to grid point ``(i, j)``: box size
``(w0 * STEP**i, h0 * STEP**j)``, at the group's refine level (power-of-two
factor where the exemplar's smaller side keeps >= ``MIN_SIDE`` px).
Boxes are ``(x, y, w, h)`` in pixels; arrays are ``(rows, cols, C)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from labeler.matching.bank import Exemplar, groups
from labeler.matching.ncc import Level, unit_template
from labeler.matching.preprocess import features, resize

STEP = 1.06
# Grid steps either way: 1.06**9 = 1.69, so 0.59-1.69x the exemplar in each axis.
SPAN = 9
# Shift search (level px) at the starting grid point; the climb then keeps
# the centre (it moves little with the size) and the winner is re-centred +-1.
SHIFT = 2
# Level side of the exemplar at refinement: 16 px steps a box side by ~1/16
# of its size (sub-pixel fits do better); 24 px cost 2.3x and was no tighter.
MIN_SIDE = 16
MARGIN = 16


def refine_factor(w: float, h: float) -> int:
    """Power-of-two level where the exemplar's smaller side keeps >= MIN_SIDE px."""
    f = 1
    while min(w, h) / (2 * f) >= MIN_SIDE and f < 8:
        f *= 2
    return f


@dataclass(frozen=True, eq=False)
class Stretch:
    """One stretched template at a refine level: unit planes ``(th, tw, 2)``
    and the integral ``(th + 1, tw + 1)`` of their summed squares."""

    planes: np.ndarray
    sq_integral: np.ndarray

    @property
    def planes_t(self) -> np.ndarray:
        """``(C, th, tw)`` float64 copy, the layout :func:`_score` contracts with."""
        return self.__dict__.setdefault("_t", np.ascontiguousarray(self.planes.transpose(2, 0, 1)))


class RefineGroup:
    """Stretched templates of one exemplar group, built lazily per grid point.

    Parameters
    ----------
    crops : list of numpy.ndarray, shape (h + 2m, w + 2m, C), float32
        The group's exemplar crops with ``m = MARGIN`` px of context.
    size : (float, float)
        ``(w0, h0)``: the group's box size in pixels.
    axis : numpy.ndarray, shape (C,)
        Colour axis of the bank (:func:`labeler.matching.bank.colour_axis`).
    """

    def __init__(self, crops: list[np.ndarray], size: tuple[float, float], axis: np.ndarray):
        self.crops, self.size, self.axis = crops, size, axis
        self.factor = refine_factor(*size)
        self._cache: dict[tuple[int, int], Stretch | None] = {}
        # Mean gradient energy per pixel inside the exemplar boxes, at the level.
        f, dens = self.factor, []
        for crop in crops:
            m = max(1, round(MARGIN / f))
            tw, th = max(1, round(size[0] / f)), max(1, round(size[1] / f))
            feat = features(resize(crop, tw + 2 * m, th + 2 * m), axis)[m : m + th, m : m + tw]
            dens.append(float((feat.astype(np.float64) ** 2).sum(axis=2).mean()))
        self.density = max(float(np.mean(dens)), 1e-6)

    def pad(self) -> tuple[int, int]:
        """Rows and columns of padding its level needs: the largest stretch
        may hang half off the image, plus the shift search."""
        big = STEP**SPAN / self.factor / 2.0
        return (
            int(math.ceil(self.size[1] * big)) + SHIFT + 2,
            int(math.ceil(self.size[0] * big)) + SHIFT + 2,
        )

    def texture(self, level: Level, full) -> float:
        """log of gradient energy per in-image pixel of the window ``full``
        ``(cx, cy, w, h)`` (target px) over the exemplars' own."""
        f = level.factor
        py, px = level.pad
        height, width = level.size
        x0 = int(np.clip(round((full[0] - full[2] / 2) / f), 0, width))
        x1 = int(np.clip(round((full[0] + full[2] / 2) / f), 0, width))
        y0 = int(np.clip(round((full[1] - full[3] / 2) / f), 0, height))
        y1 = int(np.clip(round((full[1] + full[3] / 2) / f), 0, height))
        area = (x1 - x0) * (y1 - y0)
        if area <= 0:
            return 0.0
        e = level._energy
        tot = e[py + y1, px + x1] - e[py + y0, px + x1] - e[py + y1, px + x0] + e[py + y0, px + x0]
        return float(np.log(max(tot / area, 1e-6) / self.density))

    def extent(self, i: int, j: int) -> tuple[float, float]:
        """Box ``(w, h)`` in target pixels at grid point ``(i, j)``."""
        return self.size[0] * STEP**i, self.size[1] * STEP**j

    def stretch(self, i: int, j: int) -> Stretch | None:
        """The template at grid point ``(i, j)``; None when under 4 level px."""
        if (i, j) not in self._cache:
            w, h = self.extent(i, j)
            f = self.factor
            tw, th = round(w / f), round(h / f)
            if min(tw, th) < 4:
                self._cache[(i, j)] = None
                return None
            mx, my = (
                max(1, round(MARGIN * w / self.size[0] / f)),
                max(1, round(MARGIN * h / self.size[1] / f)),
            )
            acc = None
            for crop in self.crops:
                big = resize(crop, tw + 2 * mx, th + 2 * my)
                unit = unit_template(features(big, self.axis)[my : my + th, mx : mx + tw])
                acc = unit if acc is None else acc + unit
            planes = unit_template(acc)
            sq = (planes.astype(np.float64) ** 2).sum(axis=2)
            self._cache[(i, j)] = Stretch(planes, cv2.integral(sq))
        return self._cache[(i, j)]


def build_groups(
    exemplars: list[Exemplar], *, color: bool, axis: np.ndarray, fuse: bool
) -> dict[int, RefineGroup]:
    """One :class:`RefineGroup` per fused exemplar group (as the bank fuses
    them), keyed by the group's first exemplar index (``Template.exemplar``)."""
    out = {}
    for grp in groups(exemplars) if fuse else [[i] for i in range(len(exemplars))]:
        w = float(np.median([exemplars[i].size[0] for i in grp]))
        h = float(np.median([exemplars[i].size[1] for i in grp]))
        crops = [exemplars[i].crop(color=color, margin=MARGIN) for i in grp]
        out[grp[0]] = RefineGroup(crops, (w, h), axis)
    return out
