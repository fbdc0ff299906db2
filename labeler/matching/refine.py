"""Box refinement: search each candidate's width and height (and a small shift) for a tight box.

The correlation stage (:mod:`labeler.matching.ncc`) finds *where* objects
are at three template scales of one aspect ratio, on a coarse pyramid
level; its box is the template's size, so an object 20% wider or a little
squarer than the exemplar gets a loose or cut box. Here each candidate is
re-scored with the exemplar template stretched independently in x and y on
a geometric grid (steps of :data:`STEP`, up to :data:`SPAN` either way), on
a finer level (template min side >= :data:`MIN_SIDE` px), by hill climbing
from the candidate's own scale; at each grid point the best shift within
+-:data:`SHIFT` level pixels is taken, then a parabola fit gives a sub-pixel
centre. The gradient outline of the template fits the object's outline
best at the object's own extent, so the winning size is the tight box.

Boxes are ``(x, y, w, h)`` in target pixels. Grid index ``(i, j)`` means a
template of ``(w0 * STEP**i, h0 * STEP**j)`` where ``(w0, h0)`` is the
group's exemplar size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from labeler.matching.ncc import Level, unit_template
from labeler.matching.preprocess import VAR_FLOOR, features, resize

STEP = 1.06
# Grid steps either way: 1.06**9 = 1.69, so 0.59-1.69x the exemplar in each axis.
SPAN = 9
# Width/height may change relative to each other by at most this many steps
# (1.06**6 = 1.42): larger aspect changes were mostly a template stretched
# over two touching objects.
MAX_ASPECT_STEPS = 6
# Shift search (level px) at the starting grid point; the climb then keeps
# the centre (it moves little with the size) and the winner is re-centred +-1.
SHIFT = 2
# Level side of the exemplar at refinement: 16 px steps a box side by ~1/16
# of its size (sub-pixel fits do better); 24 px cost 2.3x and was no tighter.
MIN_SIDE = 16
MAX_CLIMB = 8
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


def _stack(level: Level) -> np.ndarray:
    """The level's padded planes as one ``(H + 2py, W + 2px, C)`` array, cached on it."""
    st = getattr(level, "_refine_stack", None)
    if st is None:
        st = np.ascontiguousarray(np.dstack(level.planes))
        level._refine_stack = st
    return st


def _score(level: Level, st: Stretch, cx: float, cy: float, shift: int = 1):
    """Best NCC within +-``shift`` of centre ``(cx, cy)`` (level px) and its sub-pixel
    centre; None when the search window leaves the padded level."""
    th, tw = st.planes.shape[:2]
    py, px = level.pad
    height, width = level.size
    x0, y0 = int(round(cx - tw / 2.0)) - shift, int(round(cy - th / 2.0)) - shift
    ax, ay = x0 + px, y0 + py  # in padded coordinates
    n = 2 * shift + 1
    planes = _stack(level)
    if ax < 0 or ay < 0 or ay + th + n - 1 > planes.shape[0] or ax + tw + n - 1 > planes.shape[1]:
        return None
    patch = planes[ay : ay + th + n - 1, ax : ax + tw + n - 1]
    if n == 1:
        return _score_at(level, st, patch, ax, ay, cx, cy)
    # (n, n, C, th, tw) strided view, one einsum: far cheaper than
    # matchTemplate's set-up for a 3x3 or 5x5 result.
    s0, s1, s2 = patch.strides
    win = np.lib.stride_tricks.as_strided(
        patch, (n, n, patch.shape[2], th, tw), (s0, s1, s2, s0, s1)
    )
    acc = np.einsum("ijcyx,cyx->ij", win, st.planes_t)
    e = level._energy
    energy = (
        e[ay + th : ay + th + n, ax + tw : ax + tw + n]
        - e[ay : ay + n, ax + tw : ax + tw + n]
        - e[ay + th : ay + th + n, ax : ax + n]
        + e[ay : ay + n, ax : ax + n]
    )
    if ay < py or ax < px or ay + th + n - 1 > py + height or ax + tw + n - 1 > px + width:
        # Windows hanging off the image: the template's visible part only.
        ys, xs = np.arange(ay, ay + n)[:, None], np.arange(ax, ax + n)[None, :]
        vy0, vy1 = np.clip(py - ys, 0, th), np.clip(height + py - ys, 0, th)
        vx0, vx1 = np.clip(px - xs, 0, tw), np.clip(width + px - xs, 0, tw)
        q = st.sq_integral
        vis = np.maximum(q[vy1, vx1] - q[vy0, vx1] - q[vy1, vx0] + q[vy0, vx0], 0.05)
    else:
        vis = 1.0  # unit template, all visible
    ok = energy > VAR_FLOOR * th * tw * level.channels
    score = np.where(ok, acc / np.sqrt(np.maximum(energy, 1e-9) * vis), 0.0)
    k = int(np.argmax(score))
    dy, dx = divmod(k, n)
    return (
        float(score[dy, dx]),
        x0 + dx + _parabola(score[dy], dx) + tw / 2.0,
        y0 + dy + _parabola(score[:, dx], dy) + th / 2.0,
    )


def _score_at(level: Level, st: Stretch, patch: np.ndarray, ax: int, ay: int, cx, cy):
    """:func:`_score` without a shift search: one dot product, scalar maths
    (the hill climb calls this ~10 times per candidate)."""
    th, tw = st.planes.shape[:2]
    py, px = level.pad
    height, width = level.size
    acc = float(np.dot(patch.ravel(), st.planes.ravel()))
    e = level._energy
    energy = float(e[ay + th, ax + tw] - e[ay, ax + tw] - e[ay + th, ax] + e[ay, ax])
    if energy <= VAR_FLOOR * th * tw * level.channels:
        return 0.0, cx, cy
    vis = 1.0
    if ay < py or ax < px or ay + th > py + height or ax + tw > px + width:
        vy0, vy1 = min(max(py - ay, 0), th), min(max(height + py - ay, 0), th)
        vx0, vx1 = min(max(px - ax, 0), tw), min(max(width + px - ax, 0), tw)
        q = st.sq_integral
        vis = max(float(q[vy1, vx1] - q[vy0, vx1] - q[vy1, vx0] + q[vy0, vx0]), 0.05)
    return acc / math.sqrt(energy * vis), cx, cy


def _parabola(v: np.ndarray, i: int) -> float:
    """Sub-sample offset in [-0.5, 0.5] of the peak ``v[i]`` of a 1-D profile."""
    if i == 0 or i == len(v) - 1:
        return 0.0
    den = v[i - 1] - 2.0 * v[i] + v[i + 1]
    return float(min(max(0.5 * (v[i - 1] - v[i + 1]) / den, -0.5), 0.5)) if den < -1e-9 else 0.0


def refine_one(group: RefineGroup, level: Level, centre, start: tuple[int, int]):
    """Hill-climb the grid from ``start`` for one candidate centred at ``centre``
    ``(cx, cy)`` in target pixels.

    Returns
    -------
    (score, start_score, (cx, cy, w, h))
        Best NCC, the NCC at ``start`` (same level), and the refined centre
        and size in target pixels (unclipped). Scores are -1 when nothing
        could be evaluated.
    """
    f = level.factor
    cx, cy = centre[0] / f, centre[1] / f
    seen: dict[tuple[int, int], tuple] = {}

    def evaluate(i: int, j: int, shift: int = 0):
        if (i, j) not in seen:
            st = group.stretch(i, j)
            r = _score(level, st, cx, cy, shift) if st is not None else None
            seen[(i, j)] = r or (-1.0, cx, cy)
        return seen[(i, j)]

    cur = start
    best = evaluate(*cur, shift=SHIFT)
    first = best[0]
    cx, cy = best[1], best[2]
    # Coordinate climbs: overall size, then aspect, then each side alone;
    # ~10 evaluations where a full 8-neighbour climb took ~22.
    for steps in (((1, 1), (-1, -1)), ((1, -1), (-1, 1)), ((1, 0), (-1, 0), (0, 1), (0, -1))):
        for _ in range(MAX_CLIMB):
            moved = False
            for di, dj in steps:
                i, j = cur[0] + di, cur[1] + dj
                if max(abs(i), abs(j)) > SPAN or abs(i - j) > MAX_ASPECT_STEPS:
                    continue
                r = evaluate(i, j)
                if r[0] > best[0] + 1e-4:
                    best, nxt, moved = r, (i, j), True
            if not moved:
                break
            cur, cx, cy = nxt, best[1], best[2]
    # The climb kept the centre fixed: re-centre at the winning size.
    st = group.stretch(*cur)
    again = _score(level, st, cx, cy, 1) if st is not None and cur != start else None
    if again is not None and again[0] > best[0]:
        best = again
    bw, bh = group.extent(*cur)
    return best[0], first, (best[1] * f, best[2] * f, bw, bh)


def start_index(scale: float) -> int:
    """Grid index nearest a correlation-stage template scale."""
    return int(round(math.log(scale) / math.log(STEP)))
