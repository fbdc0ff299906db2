"""Learning from the annotator's decisions: stored candidates, outcomes, per-label rankers.

The server's loop (docs/proposal-ranking.md, issue 10)::

    cands = matcher.candidates(target, exclude=..., min_score=MIN_SCORE).of_label(name)
    r = rankers(session, dataset_id=ds, label_id=lab)       # stored state, or the priors
    p, p_useful = score(r, cands.features)
    idx = select_shown(p, p_useful=p_useful, already_shown=n)   # store p as Box.score
    record_candidates(session, image=img, label_id=lab, candidates=cands,
                      shown_mask=mask, box_ids=ids)
    # image marked done (or empty):
    label_outcomes(session, image_id=img.id)
    # later, in the background (never inside a request):
    refit(session, dataset_id=ds)

Every stored candidate, shown or not, becomes a training row once its image is done:
``accepted`` if it overlaps (IoU >= 0.7) a final accepted box of its label, ``useful`` if
IoU >= 0.3 (moving it would have been quicker than drawing), else ``rejected``; one
candidate per box, best first, within each recorded batch (as the annotator sees them).
No Flask here: :mod:`labeler.web` calls these with its own session.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labeler.matching import MATCHER_VERSION, Candidates, iou_matrix
from labeler.ranking import RANK_FEATURES, Ranker, choose
from labeler.ranking.ranker import MAX_ROWS
from labeler.store.models import Box, Candidate, Image, LabelClass, RankerState, utcnow

MIN_SCORE = 0.2  # candidates are asked for at this matcher score; the rankers decide the rest
ACCEPT_IOU, USEFUL_IOU = 0.7, 0.3
CAP_STORED = 300  # stored candidates per (image, label): best first, shown ones always kept
CAP_SHOWN = 100  # shown proposals per image and label, over all requests
# A request on the image being labelled shows at most EARN_BASE + the label's accepted
# proposals (see earned): it earns large batches by having its proposals accepted.
EARN_BASE = 10
# Seconds of expected saving a proposal must promise: when in doubt, stay out of the way.
SHOW_MARGIN = 1.5


def show_margin() -> float:
    """:data:`SHOW_MARGIN`, or ``$LABELER_SHOW_MARGIN`` (read per call: benchmarks and the UI
    tests, which need several proposals from a cold start, set it)."""
    return float(os.environ.get("LABELER_SHOW_MARGIN", SHOW_MARGIN))


Rankers = tuple[Ranker, Ranker]  # (P(accepted), P(accepted or adjusted))


def record_candidates(
    session: Session,
    *,
    image: Image | int,
    label_id: int,
    candidates: Candidates,
    shown_mask: Sequence[bool] | np.ndarray | None = None,
    box_ids: Sequence[int | None] | None = None,
    matcher_version: str = MATCHER_VERSION,
    cap: int = CAP_STORED,
) -> int:
    """Store one request's candidates of one label (best score first, as the matcher gives
    them). ``shown_mask[i]``: candidate ``i`` was shown; ``box_ids[i]``: the proposal Box it
    became (or None). At most ``cap`` rows per (image, label) are kept: every shown one,
    then the best unshown; older rows beyond the cap go first (unshown, oldest first).
    Returns how many rows were stored."""
    image_id = image if isinstance(image, int) else image.id
    n = len(candidates)
    shown = np.zeros(n, bool) if shown_mask is None else np.asarray(shown_mask, bool).reshape(n)
    ids = [None] * n if box_ids is None else list(box_ids)
    if len(ids) != n:
        raise ValueError(f"box_ids has {len(ids)} entries for {n} candidates")
    keep = np.flatnonzero(shown).tolist()
    keep += np.flatnonzero(~shown)[: max(cap - len(keep), 0)].tolist()
    feats = np.round(np.asarray(candidates.features, np.float64), 6).tolist()  # short JSON
    now = utcnow()  # one timestamp per batch: label_outcomes matches within a batch
    rows = [
        {"image_id": image_id, "label_id": label_id,
         "x": float(b[0]), "y": float(b[1]), "w": float(b[2]), "h": float(b[3]),
         "features": feats[i],
         "matcher_version": matcher_version, "shown": bool(shown[i]),
         "box_id": None if ids[i] is None else int(ids[i]), "created_at": now}
        for i in sorted(keep)
        for b in [candidates.boxes[i]]
    ]  # fmt: skip
    if rows:  # one executemany, not an ORM object per row (this runs inside requests)
        session.execute(insert(Candidate), rows)
    where = (Candidate.image_id == image_id, Candidate.label_id == label_id)
    excess = session.scalar(select(func.count(Candidate.id)).where(*where)) - max(cap, len(rows))
    if excess > 0:  # the new rows have the highest ids: drop older ones, unshown first
        newest = select(Candidate.id).where(*where).order_by(Candidate.id.desc()).limit(len(rows))
        drop = session.scalars(
            select(Candidate.id)
            .where(*where, Candidate.id.not_in(newest))
            .order_by(Candidate.shown, Candidate.id)
            .limit(excess)
        ).all()
        session.execute(delete(Candidate).where(Candidate.id.in_(drop)))
    return len(rows)


def label_outcomes(session: Session, *, image_id: int) -> Counter:
    """Set the outcome of every candidate of a finished image from its accepted boxes.

    Within each recorded batch of one label, candidates are matched one to one with the
    label's accepted boxes, shown ones first, then by matcher score: IoU >= 0.7
    ``accepted``, >= 0.3 ``useful``, else (or once the box is taken) ``rejected``. Safe to
    rerun (an image reopened and done again is relabelled). Returns counts per outcome.
    """
    truth: dict[int, list] = defaultdict(list)
    for label_id, x, y, w, h in session.execute(
        select(Box.label_id, Box.x, Box.y, Box.w, Box.h).where(
            Box.image_id == image_id, Box.status == "accepted"
        )
    ):
        truth[label_id].append((x, y, w, h))
    batches: dict[tuple[int, datetime], list[Candidate]] = defaultdict(list)
    for cand in session.scalars(
        select(Candidate).where(Candidate.image_id == image_id).order_by(Candidate.id)
    ):
        batches[(cand.label_id, cand.created_at)].append(cand)
    counts: Counter = Counter()
    for (label_id, _), cands in batches.items():
        gt = np.array(truth.get(label_id, []), np.float64).reshape(-1, 4)
        order = sorted(range(len(cands)), key=lambda i: (not cands[i].shown, -_score(cands[i]), i))
        ious = iou_matrix(np.array([c.xywh for c in cands]), gt) if len(gt) else None
        taken = np.zeros(len(gt), bool)
        for i in order:
            outcome = "rejected"
            if ious is not None:
                row = np.where(taken, 0.0, ious[i])
                j = int(np.argmax(row))
                if row[j] >= USEFUL_IOU:
                    taken[j] = True
                    outcome = "accepted" if row[j] >= ACCEPT_IOU else "useful"
            cands[i].outcome = outcome
            counts[outcome] += 1
    session.flush()
    return counts


def _score(cand: Candidate) -> float:
    return float(cand.features[0]) if cand.features else 0.0


def _training_rows(session: Session, label_id: int, limit: int) -> list[tuple]:
    """The newest ``limit`` labelled rows of a label under this matcher version, oldest
    first: (features, outcome). One index range per outcome (label_id, outcome, id)."""
    rows: list[tuple] = []
    for outcome in ("accepted", "useful", "rejected"):
        rows += session.execute(
            select(Candidate.id, Candidate.features, Candidate.outcome)
            .where(
                Candidate.label_id == label_id,
                Candidate.outcome == outcome,
                Candidate.matcher_version == MATCHER_VERSION,
            )
            .order_by(Candidate.id.desc())
            .limit(limit)
        ).all()
    rows.sort(key=lambda r: r[0])
    good = [(f, o) for _, f, o in rows if isinstance(f, list) and len(f) == len(RANK_FEATURES)]
    return good[-limit:]


def refit(
    session: Session, *, dataset_id: int, label_id: int | None = None, limit: int = MAX_ROWS
) -> dict[int, RankerState]:
    """Refit both rankers of one label (or of every label of the dataset) on its newest
    ``limit`` labelled candidates and upsert its :class:`RankerState`. A label without
    labelled rows keeps no state (its rankers are the priors). Milliseconds per label:
    call it after an image is done, outside the request (the caller commits)."""
    if label_id is None:
        label_ids = session.scalars(
            select(LabelClass.id).where(LabelClass.dataset_id == dataset_id)
        ).all()
    else:
        label_ids = [label_id]
    out: dict[int, RankerState] = {}
    for lab in label_ids:
        rows = _training_rows(session, lab, limit)
        if not rows:
            continue
        x = np.array([f for f, _ in rows], np.float64)
        outcome = np.array([o for _, o in rows])
        accepted = Ranker.fit(features=x, accepted=outcome == "accepted")
        useful = Ranker.fit(features=x, accepted=outcome != "rejected")
        out[lab] = upsert_state(
            session, dataset_id=dataset_id, label_id=lab, n_examples=len(rows),
            accepted=accepted.to_dict(), useful=useful.to_dict(),
        )  # fmt: skip
    return out


def upsert_state(
    session: Session, *, dataset_id: int, label_id: int, n_examples: int | None = None, **parts
) -> RankerState:
    """Set ``parts`` of a label's stored state (``accepted``/``useful``: ranker dicts,
    ``boxfit``: :mod:`labeler.prelabel.tightening`'s), keeping the other parts; a part
    given as ``None`` is removed."""

    def current() -> RankerState:
        return session.scalar(
            select(RankerState).where(
                RankerState.dataset_id == dataset_id, RankerState.label_id == label_id
            )
        )

    row = current()
    if row is None:
        try:  # a concurrent refit may insert the same (dataset, label) first
            with session.begin_nested():
                row = RankerState(
                    dataset_id=dataset_id, label_id=label_id, matcher_version=MATCHER_VERSION,
                    state={}, n_examples=0,
                )  # fmt: skip
                session.add(row)
        except IntegrityError:
            row = current()
    state = dict(row.state or {})
    if row.matcher_version != MATCHER_VERSION:
        state = {}
    for key, value in parts.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    row.state = state  # a new dict: the JSON column sees the change
    row.matcher_version = MATCHER_VERSION
    if n_examples is not None:
        row.n_examples = n_examples
    row.updated_at = utcnow()
    session.flush()
    return row


def _restore(state: RankerState | None) -> Rankers:
    if state is None or state.matcher_version != MATCHER_VERSION:
        return Ranker.prior(), Ranker.prior()
    s = state.state or {}
    return (
        Ranker.from_dict(s["accepted"]) if "accepted" in s else Ranker.prior(),
        Ranker.from_dict(s["useful"]) if "useful" in s else Ranker.prior(),
    )


def rankers(session: Session, *, dataset_id: int, label_id: int) -> Rankers:
    """The stored (P(accepted), P(useful)) rankers of a label; the priors when it has no
    state or one fitted under another ``MATCHER_VERSION`` (until the next refit)."""
    return _restore(
        session.scalar(
            select(RankerState).where(
                RankerState.dataset_id == dataset_id, RankerState.label_id == label_id
            )
        )
    )


def dataset_states(session: Session, *, dataset_id: int) -> dict[int, RankerState]:
    """The stored learning state of every label of a dataset that has one, by label id."""
    rows = session.scalars(select(RankerState).where(RankerState.dataset_id == dataset_id))
    return {row.label_id: row for row in rows}


def dataset_rankers(
    session: Session, *, dataset_id: int, states: dict[int, RankerState] | None = None
) -> dict[int, Rankers]:
    """:func:`rankers` of every label of a dataset, by label id; ``states`` as
    :func:`dataset_states` returns them, when the caller has read them already."""
    if states is None:
        states = dataset_states(session, dataset_id=dataset_id)
    labels = session.scalars(select(LabelClass.id).where(LabelClass.dataset_id == dataset_id))
    return {lab: _restore(states.get(lab)) for lab in labels}


def score(rankers: Rankers, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p, p_useful)`` ``(N,)`` for candidate feature rows ``(N, F)``; ``p_useful >= p``."""
    accepted, useful = rankers
    p = accepted.predict(features=features)
    return p, np.maximum(useful.predict(features=features), p)


def earned(accepted: Ranker) -> int:
    """How many proposals one request on the image being labelled may show, by the label's
    P(accepted) ranker: :data:`EARN_BASE` + its accepted proposals. A label earns large
    batches by having its proposals accepted: on one large image a ranker can be
    confidently wrong about hundreds of candidates unlike any decided (100 rods shown at p
    0.9 on the edges of nuts, 90 rejected), and the next press, refitted on a few of them,
    knows better. Batch work (Propagate, prelabel) is reviewed image by image and is not
    limited: Propagate from a first image's drawn boxes was seldom wrong."""
    return EARN_BASE + accepted.n_pos


def select_shown(
    p: np.ndarray,
    *,
    p_useful: np.ndarray | None = None,
    cap: int = CAP_SHOWN,
    already_shown: int = 0,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the candidates to show, best first: :func:`labeler.ranking.choose` (an
    expected saving of annotator time; given their ``boxes`` ``(N, 4)``, one overlapping a
    better one shown must pay on acceptance alone), at most ``cap - already_shown`` (the
    label's proposals already shown on this image count against the per-image cap)."""
    cap = max(int(cap) - int(already_shown), 0)
    return choose(p, p_useful=p_useful, margin=show_margin(), boxes=boxes, cap=cap)


def shown_mask(n: int, shown: np.ndarray) -> np.ndarray:
    """A boolean ``(n,)`` mask from :func:`select_shown` indices (for :func:`record_candidates`)."""
    mask = np.zeros(n, bool)
    mask[np.asarray(shown, np.int64)] = True
    return mask
