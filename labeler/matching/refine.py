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

import numpy as np

from labeler.matching.ncc import Level, window_sums
from labeler.matching.preprocess import VAR_FLOOR
from labeler.matching.stretch import SHIFT, SPAN, STEP, RefineGroup, Stretch

# Width/height may change relative to each other by at most this many steps
# (1.06**6 = 1.42): larger aspect changes were mostly a template stretched
# over two touching objects.
MAX_ASPECT_STEPS = 6
MAX_CLIMB = 8
# Only the best REFINE_TOP candidates of a call are refined (the rest are
# mostly junk at a low threshold; refinement is ~0.5 ms per candidate).
REFINE_TOP = 40
# The refined box replaces the correlation-stage box only when its NCC is
# this much higher: on loosely drawn truth (blood smears) small gains were
# as often away from the truth as towards it.
MIN_GAIN = 0.1


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
    energy = window_sums(level._energy, y0=ay, x0=ax, h=th, w=tw, ny=n, nx=n)
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


def refine_candidates(bank, groups: dict[int, RefineGroup], levels, full: np.ndarray, tidx):
    """Refine the best :data:`REFINE_TOP` candidates in place.

    Parameters
    ----------
    bank : list of Template
    groups : dict of int to RefineGroup
        :func:`labeler.matching.stretch.build_groups` output.
    levels : dict of int to (Level, ColourLevel)
        Pyramid levels, including every group's refine factor.
    full : numpy.ndarray, shape (N, 4)
        Unclipped ``(cx, cy, w, h)`` per candidate, best first; updated.
    tidx : numpy.ndarray, shape (N,)
        Bank index of each candidate's template.

    Returns
    -------
    refined, texture : numpy.ndarray, shape (N,) each
        Refined NCC (-1 where not refined) and the texture feature (0 there).
    """
    n = len(full)
    refined, texture = np.full(n, -1.0), np.zeros(n)
    for k in range(min(n, REFINE_TOP)):
        t = bank[tidx[k]]
        grp = groups.get(t.exemplar) if t.variant == (0.0, "") else None
        if grp is None:
            continue  # rotated or flipped variants are not stretched
        lvl = levels[grp.factor][0]
        start = (start_index(t.scale),) * 2
        r, r0, box = refine_one(grp, lvl, (full[k, 0], full[k, 1]), start)
        refined[k] = max(r, r0)
        if r - r0 >= MIN_GAIN:
            full[k] = box
        texture[k] = grp.texture(lvl, full[k])
    return refined, texture
