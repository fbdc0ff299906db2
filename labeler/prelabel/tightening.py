"""Tight boxes: each label's box regressor, fitted on the annotator's own boxes, applied to
the candidates worth showing.

Training boxes are the label's accepted boxes whose geometry a person gave: drawn ones and
proposals the annotator moved (a proposal accepted as it was teaches nothing about edges,
and would teach the regressor its own output). Fitting reads the images, so it runs only
in the background (:class:`labeler.prelabel.feedback.Learner`), after the rankers' refit;
feature rows are cached per image and label, so a refit reads only the images that changed.
The fit (a first-step regressor and, where it helps, a second-step one fitted on boxes
jittered :data:`NEAR_SPREAD` times as far) is kept in the label's
:class:`~labeler.store.models.RankerState` under ``"boxfit"`` (absent: boxes stay as the
matcher gives them).
"""

from __future__ import annotations

import os

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler import imagecache
from labeler.matching import Candidates, nms
from labeler.matching.geometry import iou_pairs
from labeler.matching.profiles import Planes, jittered, planes
from labeler.prelabel.learning import dataset_states, upsert_state
from labeler.prelabel.lru import Lru
from labeler.ranking.boxfit import BoxFit, fit_rows
from labeler.store.models import Box, Candidate, Image, LabelClass, RankerState
from labeler.workspace import Workspace

MAX_BOXES = 300  # newest human-placed boxes per label a fit uses
COPIES = 8  # jittered copies per box
# The second step's regressor trains on boxes jittered this many times as far as the first's
# (what is left after one step). Offline, 0.5 beat 0.35 and a true cascade (rows read at the
# first step's output boxes, which would need every training image again at each refit).
NEAR_SPREAD = 0.5
TOP = 100  # candidates tightened per (image, label), best first: what can be shown and more
KEEP_IOU = 0.5  # a tightened box must overlap the matcher's this much
DUPLICATE_IOU = 0.5  # two tightened candidates this close are one object: the better stays
_rows_cache: Lru[tuple[tuple, tuple]] = Lru(2000)  # (image, label) -> (its boxes, rows)


def _human_boxes(session: Session, label_id: int) -> dict[int, list[tuple]]:
    """The label's newest accepted boxes placed by a person, by image id."""
    rows = session.execute(
        select(
            Box.id,
            Box.image_id,
            Box.x,
            Box.y,
            Box.w,
            Box.h,
            Box.source,
            Candidate.x,
            Candidate.y,
            Candidate.w,
            Candidate.h,
        )  # fmt: skip
        .outerjoin(Candidate, Candidate.box_id == Box.id)
        .where(Box.label_id == label_id, Box.status == "accepted")
        .order_by(Box.id.desc())
    )
    out: dict[int, list[tuple]] = {}
    seen: set[int] = set()
    for bid, image_id, x, y, w, h, source, cx, cy, cw, ch in rows:
        if bid in seen or w < 4 or h < 4:
            continue
        # No candidate row left (older rows of a busy image are capped away): counted, as
        # most such boxes were moved or drawn over; measured, keeping them fits better.
        moved = cx is None or max(abs(x - cx), abs(y - cy), abs(w - cw), abs(h - ch)) > 0.5
        if source == "matcher" and not moved:
            continue
        seen.add(bid)
        out.setdefault(image_id, []).append((x, y, w, h))
        if len(seen) >= MAX_BOXES:
            break
    return out


# The image being labelled (each press of F) and the one just done (every label's refit).
_planes_cache: Lru[Planes] = Lru(2)


def image_planes(ws: Workspace, image: Image, pixels: np.ndarray | None = None) -> Planes:
    """The profile planes of ``image`` (its decoded ``pixels``, read when not given), for
    the requests on the image being labelled and for the background refits after it is
    done (box regressor and appearance, every label): read and differentiated once."""
    key = (image.id, image.sha256)
    hit = _planes_cache.get(key)
    if hit is not None:
        return hit
    if pixels is None:
        with imagecache.readable(image):
            pixels = imagecache.read_pixels(ws, image)
    return _planes_cache.put(key, planes(pixels))


def _rows(ws: Workspace, image: Image, label_id: int, boxes: list[tuple]) -> tuple:
    """:func:`stage_rows` of one image's boxes of one label, cached."""
    key, want = (image.id, label_id), tuple(sorted(boxes))
    hit = _rows_cache.get(key)
    if hit is not None and hit[0] == want:
        return hit[1]
    stages = stage_rows(
        image_planes(ws, image), np.array(want), rng=np.random.default_rng([image.id, label_id])
    )
    _rows_cache.put(key, (want, stages))
    return stages


def stage_rows(p: Planes, boxes: np.ndarray, *, rng: np.random.Generator) -> tuple:
    """((features, jittered boxes, truth) for the first step, the same for the second,
    :data:`NEAR_SPREAD` times as far) of true ``boxes`` ``(N, 4)`` on the image of ``p``."""
    stages = []
    for spread in (1.0, NEAR_SPREAD):
        b, t = jittered(np.asarray(boxes, np.float64), copies=COPIES, rng=rng, spread=spread)
        stages.append((fit_rows(p, b), b, t))
    return tuple(stages)


def fit_stages(parts: list[tuple], *, second: bool = True) -> BoxFit | None:
    """A label's regressor from ``parts``, ``(image id, stages)`` as :func:`_rows` gives
    them: the first step's, then (``second``, and where it helps) the second step's own."""

    def fit(stage: int) -> BoxFit | None:
        rows = [(image_id, *stages[stage]) for image_id, stages in parts]
        return BoxFit.fit(
            features=np.vstack([r[1] for r in rows]),
            boxes=np.vstack([r[2] for r in rows]),
            truth=np.vstack([r[3] for r in rows]),
            groups=np.concatenate([np.full(len(r[1]), r[0]) for r in rows]),
        )

    first = fit(0) if parts else None
    return first.then(fit(1)) if first is not None and second else first


def refit(ws: Workspace, session: Session, *, dataset_id: int) -> dict[int, BoxFit | None]:
    """Refit the box regressor of every label of the dataset and store it (or its absence,
    when it would not help). The caller commits."""
    out: dict[int, BoxFit | None] = {}
    for label_id in session.scalars(
        select(LabelClass.id).where(LabelClass.dataset_id == dataset_id)
    ).all():
        by_image = _human_boxes(session, label_id)
        parts = []
        for image_id in sorted(by_image):
            image = session.get(Image, image_id)
            try:
                parts.append((image_id, _rows(ws, image, label_id, by_image[image_id])))
            except (OSError, ValueError):  # a missing or unreadable file teaches nothing
                continue
        fit = fit_stages(parts)
        _store(session, dataset_id, label_id, fit)
        out[label_id] = fit
    return out


def _store(session: Session, dataset_id: int, label_id: int, fit: BoxFit | None) -> None:
    upsert_state(
        session, dataset_id=dataset_id, label_id=label_id,
        boxfit=None if fit is None else fit.to_dict(),
    )  # fmt: skip


def load(
    session: Session, *, dataset_id: int, states: dict[int, RankerState] | None = None
) -> dict[int, BoxFit]:
    """The stored box regressors of a dataset's labels, by label id (labels without one are
    left out; none at all under ``$LABELER_NO_TIGHTEN``, for before/after benchmarks);
    ``states`` as :func:`labeler.prelabel.learning.dataset_states` returns them, if read."""
    out: dict[int, BoxFit] = {}
    if os.environ.get("LABELER_NO_TIGHTEN"):
        return out
    if states is None:
        states = dataset_states(session, dataset_id=dataset_id)
    for label_id, row in states.items():
        fit = BoxFit.from_dict((row.state or {}).get("boxfit"))
        if fit is not None:
            out[label_id] = fit
    return out


def tighten(
    image_planes: Planes, cands: Candidates, fit: BoxFit, p: np.ndarray
) -> tuple[Candidates, np.ndarray]:
    """The :data:`TOP` most probable candidates with tightened boxes (clipped to the
    image); of two that now cover one object only the more probable stays showable.
    Returns the candidates (same order) and a mask ``(N,)`` of the showable ones."""
    n = len(cands)
    showable = np.ones(n, bool)
    if not n:
        return cands, showable
    top = np.argsort(-p, kind="stable")[:TOP]
    boxes = cands.boxes.copy()
    tight = fit.tighten(image_planes, boxes[top])
    height, width = image_planes.shape
    x0 = np.clip(tight[:, 0], 0, width)
    y0 = np.clip(tight[:, 1], 0, height)
    x1 = np.clip(tight[:, 0] + tight[:, 2], 0, width)
    y1 = np.clip(tight[:, 1] + tight[:, 3], 0, height)
    tight = np.column_stack([x0, y0, x1 - x0, y1 - y0])
    # Refine, never relocate: a step that leaves the matcher's box has slid onto a
    # neighbour (where a duplicate of a boxed object costs a rejection).
    ok = (tight[:, 2] >= 2) & (tight[:, 3] >= 2) & (iou_pairs(tight, boxes[top]) >= KEEP_IOU)
    boxes[top[ok]] = tight[ok]
    showable[:] = False
    showable[nms(boxes, p, DUPLICATE_IOU)] = True
    return Candidates(boxes, cands.scores, cands.labels, cands.features), showable
