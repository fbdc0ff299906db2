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

import cv2
import numpy as np

from labeler.matching.appearance import ColourLevel, gate
from labeler.matching.bank import (
    Exemplar,
    Template,
    build_bank,
    check_exemplar_fits,
    colour_axis,
)
from labeler.matching.geometry import Box, as_boxes, iou_matrix, nms
from labeler.matching.ncc import Level, local_peaks, subpixel
from labeler.matching.preprocess import check_image, features, is_color, to_float, value_range

MATCHER_VERSION = "labeler-tm-2"
# Three scales ~15% apart: each tolerates about +-7%, so together about
# 0.8-1.25x. Five scales found no more objects on the benchmark but more
# false matches (a big template over two touching objects).
DEFAULT_SCALES = (0.87, 1.0, 1.15)
EXCLUDE_IOU = 0.5
# A template may hang this fraction of its width/height off the image edge:
# objects cut by the border are common (half the boxes in blood smears).
OVERHANG = 0.5


@dataclass(frozen=True)
class Proposal:
    """A proposed box: ``box`` is ``(x, y, w, h)`` in target pixels (floats),
    ``score`` in [0, 1]: gradient NCC times the colour gate (comparable across
    exemplars, scales, labels)."""

    box: Box
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
    fuse : bool
        Fuse exemplars of one label and similar size into one mean template
        (faster, and found more objects on the benchmark than one template
        per exemplar); False matches each exemplar on its own.

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
        self._color = all(is_color(ex.image) for ex in self.exemplars)
        self._banks: dict[bool, list[Template]] = {}
        self._axes: dict[bool, np.ndarray] = {}
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

    def match(self, target: np.ndarray, *, exclude: Sequence[Box] | None = None) -> list[Proposal]:
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
        check_image(target, "target")
        height, width = target.shape[:2]
        check_exemplar_fits(list(self.exemplars), width, height)
        excl = as_boxes(exclude if exclude is not None else [])
        # The gate never raises a score, so peaks below min_score can be dropped first.
        boxes, edge, dark, light, labels = self._candidates(target, self.min_score)
        if not len(boxes):
            return []
        scores = edge * gate(dark, light)
        keep = scores >= self.min_score
        if len(excl):
            keep &= iou_matrix(boxes, excl).max(axis=1) < EXCLUDE_IOU
        boxes, scores = boxes[keep], scores[keep]
        labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
        order = nms(boxes, scores, self.nms_iou)
        kept_boxes = boxes[order].tolist()
        kept_scores = np.clip(scores[order], 0.0, 1.0).tolist()
        return [
            Proposal(box=tuple(b), label=labels[i], score=s)
            for b, i, s in zip(kept_boxes, order.tolist(), kept_scores, strict=True)
        ]

    def _candidates(self, target: np.ndarray, threshold: float):
        """Edge-score peaks >= ``threshold``: boxes (N, 4), edge scores (N,), dark
        and light chroma distances (N,) (:mod:`labeler.matching.appearance`), labels."""
        height, width = target.shape[:2]
        color = self._color and is_color(target)
        rng = value_range(target)
        bank = self._bank(color)
        pads: dict[int, tuple[int, int]] = {}
        for t in bank:
            oy, ox = _overhang(t)
            py, px = pads.get(t.factor, (0, 0))
            pads[t.factor] = (max(py, oy), max(px, ox))
        levels = _pyramid(target, pads, color=color, rng=rng, axis=self._axes[color])
        boxes, edge, darks, lights, labels = [], [], [], [], []
        for t in bank:
            lvl, clvl = levels[t.factor]
            th, tw = t.planes.shape[:2]
            if th > lvl.size[0] or tw > lvl.size[1]:
                continue  # this scale is bigger than the target
            oy, ox = _overhang(t)
            score = lvl.ncc(t.planes, (oy, ox), t.integrals)
            # A peak within a fifth of the template of a better one of the same
            # template overlaps it at IoU > 0.45 and would lose the NMS anyway.
            idx = local_peaks(score, threshold, (th // 5, tw // 5))
            if idx.size == 0:
                continue
            dx, dy = subpixel(score, idx)
            rows, cols = np.divmod(idx, score.shape[1])
            dark, light = clvl.distances(t.colour, (th, tw), rows - oy, cols - ox)
            fx, fy = width / lvl.size[1], height / lvl.size[0]
            # Centre of the matched window in target pixels, then the box of the
            # template's own (full-resolution) size around it, clipped to the
            # image as an annotator would draw a cut object.
            cx = (cols - ox + dx + tw / 2.0) * fx
            cy = (rows - oy + dy + th / 2.0) * fy
            w, h = t.size
            x0, y0 = np.clip(cx - w / 2.0, 0, width), np.clip(cy - h / 2.0, 0, height)
            x1, y1 = np.clip(cx + w / 2.0, 0, width), np.clip(cy + h / 2.0, 0, height)
            boxes.append(np.column_stack([x0, y0, x1 - x0, y1 - y0]))
            edge.append(score.ravel()[idx].astype(np.float64))
            darks.append(dark)
            lights.append(light)
            labels.extend([t.label] * idx.size)
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(0), []
        cat = np.concatenate
        return cat(boxes), cat(edge), cat(darks), cat(lights), labels


def _pyramid(
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


def _overhang(t: Template) -> tuple[int, int]:
    """Rows and columns template ``t`` may hang off each image edge, at its level."""
    th, tw = t.planes.shape[:2]
    return int(th * OVERHANG), int(tw * OVERHANG)


def match_image(
    target: np.ndarray,
    exemplars: Sequence[Exemplar],
    *,
    min_score: float = 0.5,
    exclude: Sequence[Box] | None = None,
    **params: object,
) -> list[Proposal]:
    """One-shot :meth:`Matcher.match`; ``params`` go to :class:`Matcher`."""
    return Matcher(exemplars, min_score=min_score, **params).match(target, exclude=exclude)
