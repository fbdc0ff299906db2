"""Matcher candidates -> the proposals worth an annotator's time, on one image.

The one path from a Matcher to stored proposals for find similar, Propagate and the
proposals an image opens with. Candidates are asked for at a low matcher score
(:data:`labeler.prelabel.learning.MIN_SCORE`), the label's re-rankers (learned from the
dataset's decisions, a conservative prior before any) turn them into calibrated acceptance
probabilities, and :func:`labeler.ranking.choose` shows only those whose expected saving
of annotator time is positive, at most a per-image cap. The stored score is that
probability, so a threshold means what it says.

Lifecycle: nothing undecided is deleted. A candidate overlapping (IoU >= 0.5) a box that
stays is dropped (the one rule of :mod:`labeler.store.proposals`; an undecided proposal
stays like an accepted box), so pressing F again adds what is new instead of wiping the
image's other proposals (of every label, as it once did). Every candidate, shown or not,
is recorded so the rankers learn from the image once it is done.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler import imagecache
from labeler.matching import MATCHER_VERSION, Matcher, profiles
from labeler.prelabel import learning, ranked
from labeler.store.models import Box, Image, LabelClass
from labeler.store.proposals import blocks
from labeler.store.queries import InvalidInput, require
from labeler.workspace import Workspace

Reader = Callable[[Workspace, Image], np.ndarray]


def _standing(session: Session, image_id: int) -> list[tuple[str, str, tuple]]:
    """``(label, status, (x, y, w, h))`` of every box of the image, in one statement."""
    rows = session.execute(
        select(LabelClass.name, Box.status, Box.x, Box.y, Box.w, Box.h)
        .join(LabelClass, LabelClass.id == Box.label_id)
        .where(Box.image_id == image_id)
    )
    return [(name, status, (x, y, w, h)) for name, status, x, y, w, h in rows]


def _blocked(label: str, standing: list) -> ranked.BlockedRule:
    """The near-duplicate rule for ``label`` on an image with boxes ``standing``."""
    return ranked.blocked_by([row[2] for row in standing if blocks(row[1], row[0], label)])


def _undecided_count(standing: list, label: str) -> int:
    return sum(1 for lab, status, _ in standing if lab == label and status == "proposed")


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
) -> list[Box]:
    """Match ``matcher`` on image ``image_id`` and store the proposals worth showing.

    ``min_score`` (calibrated, 0..1) cuts further when given; ``only_unfinished`` skips an
    image that is done by the time the proposals are written (background work). Returns the
    new boxes (detached, readable). A missing file is :class:`NotFound`, an unreadable one
    or an exemplar that does not fit :class:`InvalidInput`.
    """
    with ws.sessions() as s:
        image = require(s, Image, image_id)
        standing = _standing(s, image_id)
        labels = {lab.name: lab.id for lab in image.dataset.labels}
        models = ranked.dataset_models(s, dataset_id=image.dataset_id)
        with imagecache.readable(image):
            pixels = read(ws, image)
    every = [tuple(box) for _, status, box in standing if status != "rejected"]
    try:
        cands = matcher.candidates(pixels, exclude=every, min_score=learning.MIN_SCORE)
    except ValueError as exc:  # e.g. an exemplar larger than this image
        raise InvalidInput(f"image {image_id}: {exc}") from None
    with ws.sessions.begin() as s:
        image = require(s, Image, image_id)
        if only_unfinished and image.state not in ("new", "in_progress"):
            return []
        standing = _standing(s, image_id)  # again: the annotator may have decided meanwhile
        label_rows = {lab.name: lab for lab in image.dataset.labels}
        new: list[Box] = []
        image_planes: list = []  # for the box regressors: computed once, if one is needed

        def planes() -> profiles.Planes:
            if not image_planes:
                image_planes.append(profiles.planes(pixels))
            return image_planes[0]

        for name in sorted(set(cands.labels)):
            if name not in labels:
                continue
            # Whether a candidate is new is judged on the matcher's box (where the object
            # is), then on the tightened one: tightening must not make it a sure duplicate.
            r = ranked.rank_label(
                cands.of_label(name), models[labels[name]],
                blocked=_blocked(name, standing), planes=planes,
                already_shown=_undecided_count(standing, name), min_score=min_score,
            )  # fmt: skip
            c, p, order = r.cands, r.p, r.order
            box_ids: list[int | None] = [None] * len(c)
            for i in order:
                x, y, w, h = (float(v) for v in c.boxes[i])
                box = Box(
                    image_id=image.id, label=label_rows[name], x=x, y=y, w=w, h=h,
                    status="proposed", source="matcher", score=round(float(p[i]), 4),
                    params=params, job_id=job_id, created_by=who, updated_by=who,
                )  # fmt: skip
                s.add(box)
                new.append(box)
            s.flush()
            for i, box in zip(order, new[len(new) - len(order) :], strict=True):
                box_ids[int(i)] = box.id
            learning.record_candidates(
                s, image=image.id, label_id=labels[name], candidates=c,
                shown_mask=learning.shown_mask(len(c), order), box_ids=box_ids,
                matcher_version=MATCHER_VERSION,
            )  # fmt: skip
        new.sort(key=lambda b: -(b.score or 0.0))
        return new
