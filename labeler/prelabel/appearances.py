"""Each label's appearance model, fitted in the background on its decided candidates.

Training rows are the label's recorded candidates whose image is done (their outcome set by
:func:`labeler.prelabel.learning.label_outcomes`): what each candidate's box looks like, and
whether it was accepted. The HOG rows of each candidate's box window
(:func:`labeler.matching.profiles.box_looks`) need the image's pixels, so this runs only in
the background (:class:`labeler.prelabel.feedback.Learner`, beside the box regressor), with
rows cached per image and label (a refit reads only images whose rows changed;
the image just done is read once for both fits, :func:`~labeler.prelabel.tightening.image_planes`).
The model is kept in the label's :class:`~labeler.store.models.RankerState` under
``"appearance"`` (absent: the rankers' ``appearance`` column stays 0).
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler.matching import MATCHER_VERSION
from labeler.matching.profiles import box_looks
from labeler.prelabel.learning import dataset_states, upsert_state
from labeler.prelabel.lru import Lru
from labeler.prelabel.tightening import image_planes
from labeler.ranking.appearance import Appearance
from labeler.store.models import Candidate, Image, LabelClass, RankerState
from labeler.workspace import Workspace

MAX_ROWS = 3000  # newest decided candidates per label a fit uses, not accepted
MAX_ACCEPTED = 1000  # and accepted
_looks_cache: Lru[tuple[tuple, np.ndarray]] = Lru(2000)  # (image, label) -> (ids, rows)


def _decided(session: Session, label_id: int) -> dict[int, list[tuple]]:
    """The label's newest decided candidates, by image id: (id, box, accepted).

    The newest :data:`MAX_ROWS` of the other outcomes, and of accepted ones up to
    :data:`MAX_ACCEPTED` however old: a label whose candidates are rarely accepted (one in
    a hundred on crowded images) still has enough of them, where a window over all
    outcomes held too few and the label lost its model for ten images.
    """
    out: dict[int, list[tuple]] = defaultdict(list)
    for accepted, limit in ((True, MAX_ACCEPTED), (False, MAX_ROWS)):
        outcome = Candidate.outcome == "accepted" if accepted else Candidate.outcome != "accepted"
        rows = session.execute(
            select(
                Candidate.id, Candidate.image_id, Candidate.x, Candidate.y, Candidate.w, Candidate.h
            )  # fmt: skip
            .where(
                Candidate.label_id == label_id,
                Candidate.outcome.is_not(None),
                outcome,
                Candidate.matcher_version == MATCHER_VERSION,
            )
            .order_by(Candidate.id.desc())
            .limit(limit)
        )
        for cid, image_id, x, y, w, h in rows:
            if w >= 2 and h >= 2:
                out[image_id].append((cid, (x, y, w, h), accepted))
    for rows in out.values():
        rows.sort()  # by candidate id: the cache key of the image's rows
    return out


def _looks(ws: Workspace, image: Image, label_id: int, rows: list[tuple]) -> np.ndarray:
    """HOG rows of one image's candidates of one label, cached by candidate ids."""
    key, want = (image.id, label_id), tuple(r[0] for r in rows)
    hit = _looks_cache.get(key)
    if hit is not None and hit[0] == want:
        return hit[1]
    x = box_looks(image_planes(ws, image), np.array([r[1] for r in rows], np.float64))[1]
    return _looks_cache.put(key, (want, x))[1]


def refit(ws: Workspace, session: Session, *, dataset_id: int) -> dict[int, Appearance | None]:
    """Refit the appearance model of every label of the dataset and store it (or its
    absence, with too few decisions). The caller commits."""
    out: dict[int, Appearance | None] = {}
    for label_id in session.scalars(
        select(LabelClass.id).where(LabelClass.dataset_id == dataset_id)
    ).all():
        xs, ys = [], []
        for image_id, rows in sorted(_decided(session, label_id).items()):
            try:
                xs.append(_looks(ws, session.get(Image, image_id), label_id, rows))
            except (OSError, ValueError):  # a missing or unreadable file teaches nothing
                continue
            ys.append(np.array([r[2] for r in rows], bool))
        model = Appearance.fit(features=np.vstack(xs), accepted=np.concatenate(ys)) if xs else None
        upsert_state(
            session, dataset_id=dataset_id, label_id=label_id,
            appearance=None if model is None else model.to_dict(),
        )  # fmt: skip
        out[label_id] = model
    return out


def load(
    session: Session, *, dataset_id: int, states: dict[int, RankerState] | None = None
) -> dict[int, Appearance]:
    """The stored appearance models of a dataset's labels, by label id (none at all under
    ``$LABELER_NO_APPEARANCE``, for before/after benchmarks)."""
    if os.environ.get("LABELER_NO_APPEARANCE"):
        return {}
    if states is None:
        states = dataset_states(session, dataset_id=dataset_id)
    out = {}
    for label_id, row in states.items():
        model = Appearance.from_dict((row.state or {}).get("appearance"))
        if model is not None:
            out[label_id] = model
    return out
