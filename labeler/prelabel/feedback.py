"""Every decision teaches the rankers: outcomes recorded at once, refits in the background.

An accept, reject or adjust of a proposal labels the candidate it came from right away
(so a label whose proposals keep being rejected stops getting them on the same image);
an image marked done labels all of its candidates, shown or not, against its final boxes
(:func:`labeler.prelabel.learning.label_outcomes`). Refits run in one daemon thread per
server, coalesced per dataset: a request never waits for training (importing and fitting
scikit-learn takes seconds the first time).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterable

from sqlalchemy import func, select, update

from labeler.prelabel import appearances, learning, tightening
from labeler.store.models import Box, Candidate, Image
from labeler.workspace import Workspace

log = logging.getLogger(__name__)
OUTCOME_OF_STATUS = {"accepted": "accepted", "rejected": "rejected"}
FINISHED = ("done", "empty")
# Decisions refit a label at once only while it has few labelled rows (where each one moves
# the estimate, e.g. a label whose first proposals were all wrong); past that, refits wait for
# the image to be done, so a busy annotator's every click does not cost a fit.
EARLY_ROWS = 200


class Learner:
    """Refits a dataset's rankers in a daemon thread; asking again while one is pending
    is free (the pending refit reads the newest decisions when it runs)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._queue: queue.Queue = queue.Queue()
        self._pending: dict[int, set[int] | None] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def schedule(self, dataset_id: int, label_ids: Iterable[int] | None = None) -> None:
        """Refit ``label_ids`` of the dataset (``None``: every label) soon; at once, inside
        the request, when ``$LABELER_LEARN_SYNC`` is set (benchmarks that must repeat
        exactly: a thread's timing decides which decisions a refit sees)."""
        if os.environ.get("LABELER_LEARN_SYNC"):
            self._refit(dataset_id, None if label_ids is None else set(label_ids))
            return
        with self._lock:
            if dataset_id in self._pending:
                have = self._pending[dataset_id]
                self._pending[dataset_id] = (
                    None if have is None or label_ids is None else have | set(label_ids)
                )
                return
            self._pending[dataset_id] = None if label_ids is None else set(label_ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="labeler-learn", daemon=True
                )
                self._thread.start()
        self._queue.put(dataset_id)

    def join(self) -> None:
        """Block until every scheduled refit has run (tests, benchmarks)."""
        self._queue.join()

    def _loop(self) -> None:
        while True:
            dataset_id = self._queue.get()
            with self._lock:
                labels = self._pending.pop(dataset_id, None)
            try:
                self._refit(dataset_id, labels)
            finally:
                self._queue.task_done()

    def _refit(self, dataset_id: int, labels: set[int] | None) -> None:
        try:
            with self.ws.sessions.begin() as s:
                if labels is None:  # an image was done: rankers and box regressors
                    learning.refit(s, dataset_id=dataset_id)
                    tightening.refit(self.ws, s, dataset_id=dataset_id)
                    appearances.refit(self.ws, s, dataset_id=dataset_id)
                for label_id in sorted(labels or ()):
                    learning.refit(s, dataset_id=dataset_id, label_id=label_id)
        except Exception:  # a failed refit keeps the last state; never kill the thread
            log.exception("refit of dataset %s failed", dataset_id)


def boxes_decided(
    ws: Workspace, *, box_ids: Iterable[int], outcome: str, learner: Learner | None
) -> None:
    """Proposals ``box_ids`` were decided (``accepted``/``useful``/``rejected``): label the
    candidates they came from and schedule a refit."""
    ids = list(box_ids)
    if not ids or outcome not in ("accepted", "useful", "rejected"):
        return
    with ws.sessions.begin() as s:
        hit = s.execute(
            update(Candidate)
            .where(Candidate.box_id.in_(ids))
            .values(outcome=outcome)
            .execution_options(synchronize_session=False)
        ).rowcount
        dataset_id = s.scalar(
            select(Image.dataset_id).join(Box, Box.image_id == Image.id).where(Box.id == ids[0])
        )
        labels = set(s.scalars(select(Box.label_id).where(Box.id.in_(ids))))
        early = {
            lab
            for lab in labels
            if s.scalar(
                select(func.count(Candidate.id)).where(
                    Candidate.label_id == lab, Candidate.outcome.is_not(None)
                )
            )
            < EARLY_ROWS
        }
    if hit and early and learner is not None and dataset_id is not None:
        learner.schedule(dataset_id, early)


def image_finished(ws: Workspace, *, image_id: int, state: str, learner: Learner | None) -> None:
    """After a state change: a done (or empty) image labels all its candidates."""
    if state not in FINISHED:
        return
    with ws.sessions.begin() as s:
        counts = learning.label_outcomes(s, image_id=image_id)
        dataset_id = s.get(Image, image_id).dataset_id
    if counts and learner is not None:
        learner.schedule(dataset_id)
