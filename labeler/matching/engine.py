"""The matcher: template bank in, scored box proposals out.

Per target image: build the few pyramid levels the bank needs (each template
is matched at the coarsest power-of-two level where it keeps >= 10 px; the
raw image is resized first and converted after, since converting a 1080p
frame costs more than matching on its quarter), compute the gradient planes
(:func:`~labeler.matching.preprocess.features`), correlate every template
at its level (:mod:`labeler.matching.ncc`), keep local maxima above
``min_score``, refine them to sub-pixel by a parabola fit, map them to target
pixels (boxes take the template's full-resolution size, clipped to the
image), multiply each by the colour gate of
:mod:`labeler.matching.appearance` (computed on the candidate's window at
its level only), drop those under ``min_score`` or overlapping ``exclude``
boxes, then one NMS across all exemplars, scales and labels.

The edge score is not refined at full resolution: on the benchmark the
coarse-level score ranked proposals as well as finer levels did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labeler.matching._selection import EXCLUDE_IOU as EXCLUDE_IOU
from labeler.matching._selection import select
from labeler.matching.appearance import WindowColours
from labeler.matching.bank import (
    Exemplar,
    Template,
    build_bank,
    check_exemplar_fits,
    colour_axis,
)
from labeler.matching.border import PARTIAL, at_own_edge, clip_centred
from labeler.matching.candidates import Candidates
from labeler.matching.geometry import XYWH, as_boxes, overlaps_any
from labeler.matching.levels import TargetLevels, level_pads, overhang, pyramid
from labeler.matching.ncc import local_peaks, subpixel
from labeler.matching.preprocess import check_image, is_color, value_range
from labeler.matching.stretch import RefineGroup, build_groups

MATCHER_VERSION = "labeler-tm-2"  # match() output unchanged: refinement is opt-in
# Three scales ~15% apart: each tolerates about +-7%, so together about
# 0.8-1.25x. Five scales found no more objects on the benchmark but more
# false matches (a big template over two touching objects).
DEFAULT_SCALES = (0.87, 1.0, 1.15)


@dataclass(frozen=True)
class Proposal:
    """A proposed box: ``box`` is ``(x, y, w, h)`` in target pixels (floats),
    ``score`` in [0, 1]: gradient NCC times the colour gate (comparable across
    exemplars, scales, labels)."""

    box: XYWH
    label: str
    score: float


class Matcher:
    """Find objects like the exemplars in target images.

    Parameters
    ----------
    exemplars : sequence of Exemplar
        At least one; several per label and several labels are fine.
    min_score : float
        Proposals scoring below this (0..1, see :class:`Proposal`) are dropped.
    scales : sequence of float
        Template size factors tried; the default tolerates about 0.8-1.25x.
    rotations : sequence of float
        Extra template rotations in degrees (0 is always included).
    flips : bool
        Also try horizontally and vertically mirrored templates.
    nms_iou : float
        Proposals overlapping a better one at IoU >= this are suppressed.
    refine : bool
        Refine each box's width, height and centre (:mod:`labeler.matching.refine`); off by
        default: it lowered AP@0.5 on loosely drawn blood cells (0.633 -> 0.574) at 10x the
        time, and doubled coverage at IoU 0.7 on tightly drawn synthetic objects.
    fuse : bool
        Fuse exemplars of one label and similar size into one mean template (faster, and
        found more objects than one template per exemplar); False: each on its own.

    Notes
    -----
    Building the bank costs a few ms; reuse one Matcher for many targets.
    OpenCV runs its own threads: in a process pool call
    :func:`labeler.matching.single_threaded` in each worker first.
    """

    def __init__(
        self,
        exemplars: Sequence[Exemplar],
        *,
        min_score: float = 0.5,
        scales: Sequence[float] = DEFAULT_SCALES,
        rotations: Sequence[float] = (),
        flips: bool = False,
        nms_iou: float = 0.4,
        fuse: bool = True,
        refine: bool = False,
    ) -> None:
        exemplars = list(exemplars)
        if not exemplars:
            raise ValueError("no exemplars: give at least one Exemplar")
        for i, ex in enumerate(exemplars):
            if not isinstance(ex, Exemplar):
                raise ValueError(f"exemplar {i} is a {type(ex).__name__}, not an Exemplar")
        if not 0.0 <= float(min_score) <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        scales = tuple(sorted(float(s) for s in scales))
        if not scales or any(not 0.1 <= s <= 10 for s in scales):
            raise ValueError(f"scales must be non-empty factors in [0.1, 10], got {scales}")
        if not 0.0 < float(nms_iou) <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        self.exemplars = tuple(exemplars)
        self.min_score = float(min_score)
        self.scales = scales
        self.rotations = tuple(float(a) for a in rotations if float(a) != 0.0)
        self.flips = bool(flips)
        self.nms_iou = float(nms_iou)
        self.fuse = bool(fuse)
        self.refine = bool(refine)
        self._refiners: dict[bool, dict[int, RefineGroup]] = {}
        self._color = all(is_color(ex.image) for ex in self.exemplars)
        self._banks: dict[bool, list[Template]] = {}
        self._axes: dict[bool, np.ndarray] = {}
        # Per (colour, bank index): what Level.ncc caches for the template, by level size.
        self._band_norms: dict[tuple[bool, int], dict] = {}
        self._bank(self._color)

    @property
    def params(self) -> dict:
        """JSON-serialisable parameters, stored beside the boxes they produced."""
        return {
            "version": MATCHER_VERSION,
            "score": "ncc of sobel gradients of the main colour axis x chroma gates",
            "min_score": self.min_score,
            "scales": list(self.scales),
            "rotations": list(self.rotations),
            "flips": self.flips,
            "nms_iou": self.nms_iou,
            "fuse": self.fuse,
            "refine": self.refine,
        }

    def _bank(self, color: bool) -> list[Template]:
        if color not in self._banks:
            self._axes[color] = colour_axis(list(self.exemplars), color=color)
            self._banks[color] = build_bank(
                list(self.exemplars),
                color=color,
                scales=self.scales,
                rotations=self.rotations,
                flips=self.flips,
                axis=self._axes[color],
                fuse=self.fuse,
            )
        return self._banks[color]

    def match(self, target: np.ndarray, *, exclude: Sequence[XYWH] | None = None) -> list[Proposal]:
        """Proposals in ``target``, best score first.

        Parameters
        ----------
        target : numpy.ndarray, shape (H, W) or (H, W, C), uint8 or uint16
        exclude : sequence of (x, y, w, h), optional
            Boxes already labeled or rejected: proposals overlapping one of
            them at IoU >= 0.5 are dropped (before NMS, so they cannot hide a
            neighbour).

        Returns
        -------
        list of Proposal
        """
        c = self.candidates(target, exclude=exclude)
        return [
            Proposal(box=tuple(b), label=lab, score=s)
            for b, lab, s in zip(c.boxes.tolist(), c.labels, c.scores.tolist(), strict=True)
        ]

    def candidates(
        self,
        target: np.ndarray,
        *,
        exclude: Sequence[XYWH] | None = None,
        min_score: float | None = None,
        refine: bool | None = None,
        shared: TargetLevels | None = None,
    ) -> Candidates:
        """What :meth:`match` returns, as arrays plus a feature row per box.

        ``min_score`` overrides the Matcher's (a re-ranker wants a low one);
        ``refine`` overrides the Matcher's box refinement switch; ``shared``, a
        :class:`~labeler.matching.levels.TargetLevels` of ``target``, lends the pyramid
        pieces other matchers made on it (the same candidates, sooner).
        """
        check_image(target, "target")
        height, width = target.shape[:2]
        check_exemplar_fits(list(self.exemplars), width, height)
        excl = as_boxes(exclude if exclude is not None else [])
        thr = self.min_score if min_score is None else float(min_score)
        refine = self.refine if refine is None else bool(refine)
        color = self._color and is_color(target)
        bank = self._bank(color)
        groups = self._refine_groups(color) if refine else {}
        # The gate never raises a score, so peaks below min_score can be dropped first.
        raw, levels = self._candidates(target, thr, color, groups, excl, shared)
        return select(
            raw, levels, bank, groups, width=width, height=height, threshold=thr,
            exclude=excl, nms_iou=self.nms_iou,
        )  # fmt: skip

    def _refine_groups(self, color: bool) -> dict[int, RefineGroup]:
        if color not in self._refiners:
            exs, axis = list(self.exemplars), self._axes[color]
            self._refiners[color] = build_groups(exs, color=color, axis=axis, fuse=self.fuse)
        return self._refiners[color]

    def _candidates(self, target, threshold, color, refiners, exclude, shared=None):
        """Edge-score peaks >= ``threshold``: (boxes (N, 4) as unclipped
        ``(cx, cy, w, h)``, edge scores (N,), bank indices (N,), partial flags (N,), and a
        :class:`~labeler.matching.appearance.WindowColours` that measures their colour on
        demand), and the pyramid levels (correlation levels plus the refiners' levels).
        Peaks on an ``exclude`` box are dropped here (selection would drop them anyway; on
        a crowded large image they are most of the peaks)."""
        height, width = target.shape[:2]
        rng = value_range(target)
        bank = self._bank(color)
        pads = level_pads(
            [(t.factor, overhang(t)) for t in bank]
            + [(grp.factor, grp.pad()) for grp in refiners.values()]
        )
        levels = pyramid(target, pads, color=color, rng=rng, axis=self._axes[color], shared=shared)
        boxes, edge, tidx, parts, rows_at, cols_at = [], [], [], [], [], []
        windows: dict[int, tuple] = {}
        for ti, t in enumerate(bank):
            lvl, clvl = levels[t.factor]
            th, tw = t.planes.shape[:2]
            if th > lvl.size[0] or tw > lvl.size[1]:
                continue  # this scale is bigger than the target
            oy, ox = overhang(t)
            norms = self._band_norms.setdefault((color, ti), {})
            score = lvl.ncc(t.planes, (oy, ox), t.integrals, band_norms=norms)
            # A peak within a fifth of the template of a better one of the same
            # template overlaps it at IoU > 0.45 and would lose the NMS anyway.
            idx = local_peaks(score, threshold, (th // 5, tw // 5))
            if idx.size == 0:
                continue
            dx, dy = subpixel(score, idx)
            rows, cols = np.divmod(idx, score.shape[1])
            fx, fy = width / lvl.size[1], height / lvl.size[0]
            # Centre of the matched window in target pixels, then the box of the
            # template's own (full-resolution) size around it.
            cx = (cols - ox + dx + tw / 2.0) * fx
            cy = (rows - oy + dy + th / 2.0) * fy
            w, h = t.size
            if len(exclude):
                box = clip_centred(
                    np.column_stack([cx, cy, np.full(len(cx), w), np.full(len(cx), h)]),
                    width,
                    height,
                )
                off = ~overlaps_any(box, exclude, EXCLUDE_IOU)
                idx, rows, cols, cx, cy = (a[off] for a in (idx, rows, cols, cx, cy))
            ok = at_own_edge(self.exemplars[t.exemplar].clipped, cx, cy, w, h, width, height)
            windows[ti] = (clvl, t.colour, (th, tw))
            rows_at.append(rows - oy)
            cols_at.append(cols - ox)
            boxes.append(np.column_stack([cx, cy, np.full(len(cx), w), np.full(len(cx), h)]))
            edge.append(score.ravel()[idx].astype(np.float64) * np.where(ok, 1.0, PARTIAL))
            tidx.append(np.full(idx.size, ti))
            parts.append((~ok).astype(np.float64))
        if not boxes:
            z = np.zeros(0)
            none = WindowColours({}, np.zeros(0, int), np.zeros(0, int), np.zeros(0, int))
            return (np.zeros((0, 4)), z, np.zeros(0, int), z, none), levels
        cat = np.concatenate
        colours = WindowColours(windows, cat(tidx), cat(rows_at), cat(cols_at))
        return (cat(boxes), cat(edge), cat(tidx), cat(parts), colours), levels


def match_image(
    target: np.ndarray,
    exemplars: Sequence[Exemplar],
    *,
    min_score: float = 0.5,
    exclude: Sequence[XYWH] | None = None,
    **params: object,
) -> list[Proposal]:
    """One-shot :meth:`Matcher.match`; ``params`` go to :class:`Matcher`."""
    return Matcher(exemplars, min_score=min_score, **params).match(target, exclude=exclude)
