"""Matcher candidates -> the proposals worth an annotator's time, on one image.

The one path from a Matcher to stored proposals for find similar, Propagate and the
proposals an image opens with. Candidates are asked for at a low matcher score
(:data:`labeler.prelabel.learning.MIN_SCORE`), the label's re-rankers (learned from the
dataset's decisions, a conservative prior before any) turn them into calibrated acceptance
probabilities, and :func:`labeler.ranking.choose` shows only those whose expected saving
of annotator time is positive, at most a per-image cap. The stored score is that
probability, so a threshold means what it says.

Lifecycle: nothing undecided is deleted. A candidate overlapping a box that stays is
dropped (:func:`labeler.prelabel.ranked.blocked_by`, within the store's rule of
:mod:`labeler.store.proposals`), so pressing F again adds what is new instead of wiping the
image's other proposals (of every label, as it once did). A candidate over an undecided
matcher proposal of its own label *updates* that proposal (box, score, parameters; its
version goes up) when it is more probable, and is dropped when it is not: one box per
object, the better one, never a duplicate. Every candidate, shown or not, is recorded so
the rankers learn from the image once it is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labeler import imagecache
from labeler.matching import MATCHER_VERSION, Candidates, Matcher, iou_matrix
from labeler.matching.profiles import Planes
from labeler.prelabel import learning, ranked, tightening
from labeler.store.models import Box, Candidate, Image, LabelClass
from labeler.store.proposals import blocks
from labeler.store.queries import InvalidInput, StaleRow, require
from labeler.workspace import Workspace

Reader = Callable[[Workspace, Image], np.ndarray]
WRITE_ATTEMPTS = 3  # a concurrent decision on a proposal being updated: read again, retry


class Standing(NamedTuple):
    """A box on the image, as the proposal rules need it."""

    label: str
    status: str
    box: tuple
    id: int
    source: str
    score: float | None
    version: int


class Proposed(NamedTuple):
    """What a request put in front of the annotator: new boxes, undecided proposals it
    moved onto a more probable candidate (detached, readable), and how many more were worth
    showing but held back until the label earns them (:func:`labeler.prelabel.learning.earned`)."""

    new: list[Box]
    updated: list[Box]
    held_back: int = 0


def _standing(session: Session, image_id: int) -> list[Standing]:
    """Every box of the image, in one statement."""
    rows = session.execute(
        select(
            LabelClass.name,
            Box.status,
            Box.x,
            Box.y,
            Box.w,
            Box.h,
            Box.id,
            Box.source,
            Box.score,
            Box.version,
        )  # fmt: skip
        .join(LabelClass, LabelClass.id == Box.label_id)
        .where(Box.image_id == image_id)
    )
    return [
        Standing(n, st, (x, y, w, h), i, src, sc, v) for n, st, x, y, w, h, i, src, sc, v in rows
    ]


def _updatable(row: Standing, label: str) -> bool:
    """An undecided matcher proposal of ``label``: a better candidate may take its place."""
    return row.label == label and row.status == "proposed" and row.source == "matcher"


def _blocked(label: str, standing: list[Standing]) -> ranked.BlockedRule:
    """The near-duplicate rule for ``label``: boxes that stay and that no candidate of
    ``label`` may update."""
    return ranked.blocked_by(
        [r.box for r in standing if blocks(r.status, r.label, label) and not _updatable(r, label)]
    )


def _undecided_count(standing: list[Standing], label: str) -> int:
    return sum(1 for r in standing if r.label == label and r.status == "proposed")


def _stored_score(p: float) -> float:
    return round(float(p), 4)


def _claims(boxes: np.ndarray, p: np.ndarray, order: np.ndarray, olds: list[Standing]) -> dict:
    """Which shown candidates (indices ``order`` into ``boxes``/``p``) fall on an undecided
    proposal of ``olds``: ``{candidate: old row or None}``, None meaning "drop it" (the old
    one is as probable, or a better candidate took it). Others are new."""
    out: dict[int, Standing | None] = {}
    if not len(order) or not olds:
        return out
    ious = iou_matrix(boxes[order], np.array([r.box for r in olds], np.float64))
    taken: set[int] = set()
    for k, i in enumerate(order):  # best first
        j = int(np.argmax(ious[k]))
        if ious[k, j] < ranked.NEAR_DUPLICATE_IOU:
            continue
        # on the stored (rounded) score: an equal candidate is no update, only a no-op write
        better = j not in taken and _stored_score(p[i]) > float(olds[j].score or 0.0)
        out[int(i)] = olds[j] if better else None
        taken.add(j)
    return out


def propose(
    ws: Workspace,
    *,
    image_id: int,
    matcher: Matcher,
    who: str,
    params: dict,
    min_score: float | None = None,
    job_id: int | None = None,
    read: Reader = imagecache.decoded,
    only_unfinished: bool = False,
) -> Proposed:
    """Match ``matcher`` on image ``image_id`` and store the proposals worth showing.

    ``min_score`` (calibrated, 0..1) cuts further when given; ``only_unfinished`` skips an
    image that is done by the time the proposals are written (background work). Returns the
    new and the updated boxes, best first. A missing file is :class:`NotFound`, an
    unreadable one or an exemplar that does not fit :class:`InvalidInput`.
    """
    with ws.sessions() as s:
        image = require(s, Image, image_id)
        standing = _standing(s, image_id)
        with imagecache.readable(image):
            pixels = read(ws, image)
    # Undecided matcher proposals are not excluded: a better candidate may update one.
    every = [
        tuple(r.box)
        for r in standing
        if r.status != "rejected" and not (r.status == "proposed" and r.source == "matcher")
    ]
    try:
        cands = matcher.candidates(pixels, exclude=every, min_score=learning.MIN_SCORE)
    except ValueError as exc:  # e.g. an exemplar larger than this image
        raise InvalidInput(f"image {image_id}: {exc}") from None
    # edge fit and regressors: once per image, not per request
    planes = functools.cache(lambda: tightening.image_planes(ws, image, pixels))
    store = functools.partial(
        _store, ws, image_id, cands, planes, who=who, params=params, min_score=min_score,
        job_id=job_id, only_unfinished=only_unfinished,
    )  # fmt: skip
    for _ in range(WRITE_ATTEMPTS - 1):
        try:
            return store()
        except StaleRow:
            # a proposal this request was updating was decided meanwhile: read the image's
            # boxes again and redo the write, rather than answer 409 to a key press
            continue
    return store()


def _store(
    ws: Workspace,
    image_id: int,
    cands: Candidates,
    planes: Callable[[], Planes],
    *,
    who: str,
    params: dict,
    min_score: float | None,
    job_id: int | None,
    only_unfinished: bool,
) -> Proposed:
    """Rank ``cands`` (the matcher's, on image ``image_id``) against the image's boxes as
    they are now and store the proposals worth showing, in one transaction."""
    with ws.sessions.begin() as s:
        image = require(s, Image, image_id)
        if only_unfinished and image.state not in ("new", "in_progress"):
            return Proposed([], [])
        standing = _standing(s, image_id)  # again: the annotator may have decided meanwhile
        label_rows = {lab.name: lab for lab in image.dataset.labels}
        labels = {name: lab.id for name, lab in label_rows.items()}
        models = ranked.dataset_models(s, dataset_id=image.dataset_id)
        new: list[Box] = []
        updated: list[Box] = []
        held_back = 0
        for name in sorted(set(cands.labels)):
            if name not in labels:
                continue
            # Whether a candidate is new is judged on the matcher's box (where the object
            # is), then on the tightened one: tightening must not make it a sure duplicate.
            r = ranked.rank_label(
                cands.of_label(name), models[labels[name]],
                blocked=_blocked(name, standing), planes=planes,
                already_shown=_undecided_count(standing, name), min_score=min_score,
                batch=job_id is not None,
            )  # fmt: skip
            c, p, order = r.cands, r.p, r.order
            held_back += r.held_back
            claims = _claims(c.boxes, p, order, [r for r in standing if _updatable(r, name)])
            shown: list[int] = []
            made: list[tuple[int, Box]] = []
            for i in order:
                i = int(i)
                if i in claims and claims[i] is None:
                    continue  # an undecided proposal as probable is already there
                x, y, w, h = (float(v) for v in c.boxes[i])
                fields = dict(x=x, y=y, w=w, h=h, score=_stored_score(p[i]), params=params,
                              job_id=job_id, updated_by=who)  # fmt: skip
                if i in claims:
                    box = s.get(Box, claims[i].id)
                    if box is None or box.version != claims[i].version:
                        raise StaleRow(f"box {claims[i].id} was decided meanwhile")
                    # its old candidate row no longer made it (the regressor learns from
                    # boxes whose geometry differs from the candidate that made them)
                    s.execute(
                        update(Candidate).where(Candidate.box_id == box.id).values(box_id=None)
                    )
                    for key, value in fields.items():
                        setattr(box, key, value)
                    updated.append(box)
                else:
                    box = Box(image_id=image.id, label=label_rows[name], status="proposed",
                              source="matcher", created_by=who, **fields)  # fmt: skip
                    s.add(box)
                    new.append(box)
                shown.append(i)
                made.append((i, box))
            s.flush()
            box_ids: list[int | None] = [None] * len(c)
            for i, box in made:
                box_ids[i] = box.id
            learning.record_candidates(
                s, image=image.id, label_id=labels[name], candidates=c,
                shown_mask=learning.shown_mask(len(c), np.array(shown, np.int64)),
                box_ids=box_ids, matcher_version=MATCHER_VERSION,
            )  # fmt: skip
        new.sort(key=lambda b: -(b.score or 0.0))
        updated.sort(key=lambda b: -(b.score or 0.0))
        return Proposed(new, updated, held_back)
