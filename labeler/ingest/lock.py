"""One ingest per dataset at a time: a second ``labeler ingest`` into it waits its turn.

Two ingests of the same files into one dataset both see no rows, both move the files in and
both insert them: the loser died on the unique (dataset, path) constraint with a raw
IntegrityError (issue 13). Holding a lock file per dataset for the whole run makes the second
wait, then find every file already recorded. The lock lives in the workspace's ``.labeler``
folder, so it covers every process using that workspace (not other machines sharing only the
PostgreSQL database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from labeler.workspace import CONFIG_DIR, Workspace


@contextmanager
def dataset_lock(ws: Workspace, name: str, *, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the ingest lock of dataset ``name``; ``on_wait`` hears why when it must wait."""
    folder = ws.root / CONFIG_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / f"ingest-{name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        on_wait(f"another ingest into dataset {name!r} is running; waiting for it to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
