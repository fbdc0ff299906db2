"""Background Propagate jobs: one worker thread per server process, a FIFO queue of job ids.

Progress lives in the ``job`` table (``done`` of ``total``), so any request,
tab or process can follow it. Each image is its own transaction: a crash or
a cancel loses at most the image being matched, never earlier results.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading

from sqlalchemy import select, update

from labeler.store.jobs import pid_alive
from labeler.store.models import Image, Job
from labeler.web import propose, thumbs
from labeler.web.errors import ApiError
from labeler.workspace import Workspace

log = logging.getLogger(__name__)
_STOP = object()


def _read_uncached(ws: Workspace, image: Image):
    # Not through the LRU: a long job would evict the images the annotator is working on.
    return thumbs.read_pixels(str(thumbs.source_path(ws, image)))


def _set(ws: Workspace, job_id: int, **values) -> None:
    with ws.sessions.begin() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _status(ws: Workspace, job_id: int) -> str | None:
    with ws.sessions() as s:
        return s.scalar(select(Job.status).where(Job.id == job_id))


def run_propagate(ws: Workspace, job_id: int) -> None:
    """Run the queued propagate job ``job_id`` to the end (or until it is cancelled)."""
    if _status(ws, job_id) != "queued":
        return  # cancelled before it started
    _set(ws, job_id, status="running")
    with ws.sessions() as s:
        job = s.get(Job, job_id)
        p = job.params
        specs = [
            propose.ExemplarSpec(e["image_id"], tuple(e["box"]), e["label"]) for e in p["exemplars"]
        ]
        matcher = propose.build_matcher(ws, s, specs, p["min_score"], _read_uncached)
        cond = propose.target_condition(job.dataset_id, scope=p["scope"], after=p["after_image_id"])
        q = select(Image.id).where(cond).order_by(Image.id)
        ids = list(s.scalars(q.limit(p["n"]) if p["scope"] == "next" else q))
        who = job.created_by or ws.user
    params = {**matcher.params, "exemplars": p["exemplars"], "job_id": job_id}
    keep = set(p.get("box_ids") or ())
    _set(ws, job_id, total=len(ids))
    failures: list[str] = []
    for done, image_id in enumerate(ids, start=1):
        if _status(ws, job_id) == "cancelled":
            return
        try:
            with ws.sessions() as s:
                image = s.get(Image, image_id)
                exclude = propose.exclusions(s, image_id, keep)
                pixels = _read_uncached(ws, image)
            proposals = matcher.match(pixels, exclude=exclude)
            with ws.sessions.begin() as s:
                propose.store_proposals(
                    s, s.get(Image, image_id), proposals, params=params, who=who, keep=keep,
                    job_id=job_id,
                )  # fmt: skip
        except (OSError, ValueError) as exc:  # one bad image must not stop the job
            failures.append(f"image {image_id}: {exc}")
        _set(ws, job_id, done=done)
    error = f"{len(failures)} image(s) failed; first: {failures[0]}" if failures else None
    _set(ws, job_id, status="done", error=error)


def owner() -> dict:
    """Recorded in a job's params: which server process runs it."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


class JobRunner:
    """Runs submitted job ids one after another in a daemon thread."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def recover(self) -> None:
        """Jobs whose server process is gone will never finish: say so.

        Only jobs of dead processes on this host (or without an owner) are
        failed, so a second server on the same workspace leaves the first
        one's jobs alone.
        """
        host = socket.gethostname()
        with self.ws.sessions.begin() as s:
            q = select(Job).where(Job.kind == "propagate", Job.status.in_(("queued", "running")))
            for job in s.scalars(q):
                owner = job.params.get("owner") or {}
                if owner.get("host") in (None, host) and not pid_alive(owner.get("pid")):
                    job.status = "failed"
                    job.error = "the server stopped before the job finished"

    def submit(self, job_id: int) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="labeler-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job_id)

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
            except ApiError as exc:
                _set(self.ws, job_id, status="failed", error=exc.detail)
            except Exception as exc:
                log.exception("propagate job %s failed", job_id)
                _set(self.ws, job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
