"""Propagate: the exemplars of one image -> proposals on other images, as a background job.

One worker thread per server process runs a FIFO queue of job ids. Progress lives in the
``job`` table (``done`` of ``total``), so any request, tab or process can follow it. Each
image is its own transaction: a crash or a cancel loses at most the image being matched,
never earlier results.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from labeler import imagecache
from labeler.prelabel import learning, proposing
from labeler.prelabel.interactive import (
    MAX_EXEMPLARS,
    ExemplarSpec,
    build_matcher,
    check_min_score,
    label_banks,
    resolve_exemplars,
)
from labeler.store.jobs import fail_orphaned, job_status, owner, set_job
from labeler.store.models import Dataset, Image, Job
from labeler.store.queries import InvalidInput, require
from labeler.workspace import Workspace

log = logging.getLogger(__name__)
JOB_KIND = "propagate"
MAX_N = 100_000
_STOP = object()


def _targets(dataset_id: int, *, scope: str, after: int):
    """Which images a job visits: unfinished ones after ``after`` (scope ``next``, then
    limited to ``n``) or all unfinished ones but ``after`` (scope ``all``)."""
    cond = and_(
        Image.dataset_id == dataset_id, Image.state.in_(("new", "in_progress")), Image.id != after
    )
    return and_(cond, Image.id > after) if scope == "next" else cond


def create_job(
    s: Session,
    *,
    dataset_id: int,
    who: str,
    min_score: float | None = None,
    scope: str = "next",
    n: int = 10,
    after_image_id: int | None = None,
    box_ids: Sequence[int] = (),
    exemplars: Sequence[dict] = (),
) -> Job:
    """A queued propagate job: ``next`` visits the ``n`` unfinished images after
    ``after_image_id`` (default: the first exemplar's image), ``all`` every unfinished
    image but that one."""
    threshold = None if min_score is None else check_min_score(min_score)
    if scope not in ("next", "all"):
        raise InvalidInput(f"scope must be 'next' or 'all', got {scope!r}")
    if not 1 <= n <= MAX_N:
        raise InvalidInput(f"n must be in [1, {MAX_N}], got {n}")
    ds = require(s, Dataset, dataset_id)
    if box_ids or exemplars:
        specs = resolve_exemplars(s, ds, box_ids=box_ids, exemplars=exemplars)
        after = specs[0].image_id if after_image_id is None else after_image_id
    else:  # the labels' banks: every accepted box so far, spread within the 50 limit
        per_label = max(MAX_EXEMPLARS // max(len(ds.labels), 1), 1)
        specs = label_banks(s, ds, per_label=per_label)[:MAX_EXEMPLARS]
        if not specs:
            raise InvalidInput("no exemplars: give box_ids or exemplars, or accept a box first")
        after = 0 if after_image_id is None else after_image_id
    cond = _targets(ds.id, scope=scope, after=after)
    total = s.scalar(select(func.count()).select_from(Image).where(cond))
    job = Job(
        kind=JOB_KIND,
        dataset_id=ds.id,
        params={
            "exemplars": [sp.as_json() for sp in specs],
            "box_ids": [sp.box_id for sp in specs if sp.box_id is not None],
            "scope": scope,
            "n": n,
            "after_image_id": after,
            "min_score": threshold,
            "owner": owner(),
        },
        status="queued",
        total=min(total, n) if scope == "next" else total,
        created_by=who,
    )
    s.add(job)
    s.flush()
    return job


def _set(ws: Workspace, job_id: int, **values) -> None:
    with ws.sessions.begin() as s:
        set_job(s, job_id, **values)


def run_propagate(ws: Workspace, job_id: int) -> None:
    """Run the queued propagate job ``job_id`` to the end (or until it is cancelled)."""
    with ws.sessions() as s:
        if job_status(s, job_id) != "queued":
            return  # cancelled before it started
    _set(ws, job_id, status="running")
    with ws.sessions() as s:
        job = s.get(Job, job_id)
        p = job.params
        specs = [ExemplarSpec(e["image_id"], tuple(e["box"]), e["label"]) for e in p["exemplars"]]
        matcher = build_matcher(ws, s, specs, learning.MIN_SCORE, imagecache.read_pixels)
        cond = _targets(job.dataset_id, scope=p["scope"], after=p["after_image_id"])
        q = select(Image.id).where(cond).order_by(Image.id)
        ids = list(s.scalars(q.limit(p["n"]) if p["scope"] == "next" else q))
        who = job.created_by or ws.user
    params = {**matcher.params, "exemplars": p["exemplars"], "job_id": job_id}
    _set(ws, job_id, total=len(ids))
    failures: list[str] = []
    for done, image_id in enumerate(ids, start=1):
        with ws.sessions() as s:
            if job_status(s, job_id) == "cancelled":
                return
        try:
            # Not through the decoded-image LRU: a long job would evict the annotator's images.
            proposing.propose(
                ws, image_id=image_id, matcher=matcher, who=who, params=params,
                min_score=p["min_score"], job_id=job_id, read=imagecache.read_pixels,
                only_unfinished=True,
            )  # fmt: skip
        except (LookupError, ValueError) as exc:  # one bad image must not stop the job
            failures.append(f"image {image_id}: {exc}")
        _set(ws, job_id, done=done)
    error = f"{len(failures)} image(s) failed; first: {failures[0]}" if failures else None
    _set(ws, job_id, status="done", error=error)


class JobRunner:
    """Runs submitted job ids one after another in a daemon thread."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def recover(self) -> None:
        """Fail the jobs a stopped server left behind (:func:`fail_orphaned`)."""
        with self.ws.sessions.begin() as s:
            fail_orphaned(s, kind=JOB_KIND)

    def submit(self, job_id: int) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="labeler-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job_id)

    @property
    def alive(self) -> bool:
        """Whether it can run a job: its thread starts on the first job and ends only on
        :meth:`stop`, so not started yet counts as alive."""
        return self._thread is None or self._thread.is_alive()

    def join(self) -> None:
        """Block until every submitted job has finished (tests, shutdown)."""
        self._queue.join()

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                if job_id is _STOP:
                    return
                run_propagate(self.ws, job_id)
            except InvalidInput as exc:  # e.g. an exemplar image that became unreadable
                _set(self.ws, job_id, status="failed", error=str(exc))
            except Exception as exc:
                log.exception("propagate job %s failed", job_id)
                _set(self.ws, job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
