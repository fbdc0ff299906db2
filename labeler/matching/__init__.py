"""Template matching: draw one box, get proposals for every similar object.

Public API (a contract other areas depend on)::

    from labeler.matching import Exemplar, Proposal, Matcher, match_image
    ex = Exemplar(image=img, box=(x, y, w, h), label="RBC")
    props = Matcher([ex], min_score=0.5).match(target, exclude=[(x, y, w, h)])
    cands = Matcher([ex]).candidates(target, min_score=0.2)  # + features, for a re-ranker

Boxes are ``(x, y, w, h)`` floats in pixels, top-left origin, x = column.
Images are numpy arrays ``(H, W)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA,
uint8 or uint16 (as :func:`labeler.imageio.read_image` returns them).
"""

from __future__ import annotations

import cv2

from labeler.matching.bank import Exemplar
from labeler.matching.candidates import FEATURE_NAMES, Candidates
from labeler.matching.engine import DEFAULT_SCALES, MATCHER_VERSION, Matcher, Proposal, match_image
from labeler.matching.geometry import XYWH, clip_box, iou, iou_matrix, nms

Box = XYWH  # the name outside scripts used before XYWH; kept for them


class single_threaded:  # noqa: N801 - used like a function, also a context manager
    """Make OpenCV single-threaded: call it in every process-pool worker.

    Nesting OpenCV's thread pool inside a process pool oversubscribes the
    cores and is slower than either alone. ``single_threaded()`` takes effect
    at once (use it as a pool ``initializer``); ``with single_threaded():``
    restores the previous thread count on exit. For BLAS, set
    ``OMP_NUM_THREADS=1`` in the worker environment before numpy is imported
    (the matcher itself does not use BLAS).
    """

    def __init__(self) -> None:
        self._previous = cv2.getNumThreads()
        cv2.setNumThreads(1)

    def __enter__(self) -> single_threaded:
        return self

    def __exit__(self, *exc: object) -> None:
        cv2.setNumThreads(self._previous)


__all__ = [
    "DEFAULT_SCALES",
    "MATCHER_VERSION",
    "XYWH",
    "Box",
    "Candidates",
    "FEATURE_NAMES",
    "Exemplar",
    "Matcher",
    "Proposal",
    "clip_box",
    "iou",
    "iou_matrix",
    "match_image",
    "nms",
    "single_threaded",
]
