"""Jobs in the store: who owns one, the one orphaned-job recovery, progress and cancel.

A job left queued or running by a process that no longer exists will never finish. Batch
prelabel runs (at start) and the web server (at start) both call :func:`fail_orphaned`.
"""

from __future__ import annotations

import os
import socket

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labeler.store.models import Job
from labeler.store.queries import require

UNFINISHED_JOBS = ("queued", "running")
# Why the job failed, as each kind has always said it (the API's job.error).
ORPHAN_ERRORS = {
    "prelabel": "interrupted: process {pid} ended before finishing",
    "propagate": "the server stopped before the job finished",
}


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists on this host (``False`` for no pid)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner() -> dict:
    """Which process runs a job: recorded in its params (``host``, ``pid``)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _owner_of(job: Job) -> dict:
    # Propagate jobs keep it under "owner", prelabel runs at the top of their params.
    params = job.params or {}
    return params.get("owner") or params


def fail_orphaned(session: Session, *, kind: str, dataset_id: int | None = None) -> int:
    """Fail the ``kind`` jobs whose process is gone; returns how many.

    Only jobs of dead processes on this host (or without an owner) are failed, so a second
    server or run on the same workspace leaves the other one's jobs alone.
    """
    host = socket.gethostname()
    q = select(Job).where(Job.kind == kind, Job.status.in_(UNFINISHED_JOBS))
    if dataset_id is not None:
        q = q.where(Job.dataset_id == dataset_id)
    n = 0
    for job in session.scalars(q):
        found = _owner_of(job)
        pid = found.get("pid") if isinstance(found.get("pid"), int) else None
        if found.get("host") in (None, host) and not pid_alive(pid):
            job.status, job.error = "failed", ORPHAN_ERRORS[kind].format(pid=pid)
            n += 1
    return n


def set_job(session: Session, job_id: int, **values) -> None:
    """Update the job row in place (progress, status) without loading it."""
    stmt = update(Job).where(Job.id == job_id).values(**values)
    session.execute(stmt.execution_options(synchronize_session=False))


def job_status(session: Session, job_id: int) -> str | None:
    return session.scalar(select(Job.status).where(Job.id == job_id))


def cancel_job(session: Session, job_id: int) -> Job:
    """Ask an unfinished job to stop: its worker checks between images."""
    job = require(session, Job, job_id)
    if job.status in UNFINISHED_JOBS:
        job.status = "cancelled"
    return job
