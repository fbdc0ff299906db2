"""``ingest``: copy a folder or archive of images into a dataset and record them.

The main process walks the source, hands files in chunks to a process pool that
hashes, checks and stages them (:mod:`labeler.ingest.check`), then - in source order,
so the first copy of a duplicate always wins - moves each staged file into place and
inserts the rows in batches of :data:`BATCH` per transaction. A file is moved into
place before its row is committed: after a crash, re-running re-checks the file and
records it; nothing is ever recorded without its file. Archive members are spooled to
disk in chunks (:mod:`labeler.ingest.spool`), never held whole in memory, and one ingest
per dataset runs at a time (:mod:`labeler.ingest.lock`).
"""

from __future__ import annotations

import os
import re
import sys
import tarfile
import zipfile
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import insert, select

from labeler import testhooks
from labeler.ingest.check import Checked, Task, check_chunk, init_worker
from labeler.ingest.lock import dataset_lock
from labeler.ingest.report import IngestReport
from labeler.ingest.sources import Entry, open_source
from labeler.ingest.spool import Budget, Limits, Refused, discard, spool
from labeler.progress import progress as progress_bar
from labeler.store.models import Image
from labeler.store.queries import ensure_labels, get_or_create_dataset
from labeler.workspace import Workspace

BATCH = 500  # rows per transaction
# Files per worker call: big chunks amortise the inter-process round trip; archive members
# are spooled to disk before they are sent, so small chunks bound the disk in flight.
CHUNK = {"folder": 64, "zip": 8, "tar": 8}
UNPACK_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError)
MIN_FILES_PER_WORKER = 100  # below this a pool costs more to start than it saves
MAX_PATH = 1024  # Image.path column width
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_dataset_name(name: str) -> str:
    """Dataset names become folder names: letters, digits, ``.``, ``_``, ``-``; 1-100 chars."""
    if not DATASET_NAME.fullmatch(name or ""):
        raise ValueError(
            f"invalid dataset name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _pool_size(workers: int | None, count: int) -> int:
    if workers is not None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        return workers
    # The main process moves files and writes rows while workers decode, so it needs a core
    # of its own: on 2 cores a pool measured slower than checking in-process (BENCHMARKS.md).
    spare = (os.cpu_count() or 1) - 1
    return spare if spare >= 2 and count >= 2 * MIN_FILES_PER_WORKER else 1


def _ordered_map(
    tasks: Iterator[Task], max_pixels: int, pool: Executor | None, workers: int, *, chunk: int = 8
) -> Iterator[Checked]:
    """Check ``tasks`` in order; a bounded window keeps archive bytes from piling up.

    Closing the iterator early (Ctrl-C, an error in the caller) deletes the temporary
    files of results it checked but never handed out.
    """
    chunks = iter(lambda: list(islice(tasks, chunk)), [])
    window: deque[tuple[Future, list[Task]]] = deque()
    ready: deque[Checked] = deque()
    try:
        for batch in chunks:
            if pool is None:
                ready.extend(check_chunk(batch, max_pixels))
            else:
                window.append((pool.submit(check_chunk, batch, max_pixels), batch))
                if len(window) >= 4 * workers:
                    ready.extend(window.popleft()[0].result())
            while ready:
                yield ready.popleft()
        while window:
            ready.extend(window.popleft()[0].result())
            while ready:
                yield ready.popleft()
    finally:
        for future, batch in window:
            if not future.cancel() and future.exception() is None:
                ready.extend(future.result())
            else:  # never checked: the spooled archive members are nobody's now
                for task in batch:
                    discard(task.src if task.spooled else None)
        for checked in ready:
            if checked.tmp:
                Path(checked.tmp).unlink(missing_ok=True)


class _Run:
    """The main-process bookkeeping of one ingest: dedup, moves and batched inserts."""

    def __init__(self, ws: Workspace, dataset_id: int, name: str, budget: Budget):
        self.ws, self.dataset_id, self.prefix = ws, dataset_id, f"datasets/{name}/images/"
        self.images_dir = ws.dataset_dir(name) / "images"
        with ws.sessions() as s:
            rows = s.execute(
                select(Image.path, Image.sha256).where(Image.dataset_id == dataset_id)
            ).all()
        self.sha_at = {path: sha for path, sha in rows}
        self.path_of = {sha: path for path, sha in reversed(rows)}
        self.rows: list[dict] = []
        self.report = dict(ingested=0, duplicates=0, skipped_existing=0)
        self.rejected: list[tuple[str, str]] = []
        self.duplicate_of: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.budget = budget
        self.tick = lambda n: None
        self.user = ws.user  # looked up once: it may try os.getlogin() every time

    def tasks(self, entries: Iterable[Entry]) -> Iterator[Task]:
        root = os.path.realpath(self.images_dir)
        real_of: dict[Path, str] = {}  # realpath per folder: a few syscalls per component
        for e in entries:
            path = self.prefix + e.rel
            if e.error:
                self.reject(e.rel, e.error)
                continue
            if len(path) > MAX_PATH:
                self.reject(e.rel, f"path longer than {MAX_PATH} characters")
                continue
            dest = self.images_dir / e.rel
            real = real_of.get(dest.parent) or real_of.setdefault(
                dest.parent, os.path.realpath(dest.parent)
            )
            if real != root and not real.startswith(root + os.sep):
                # a symlink planted inside the dataset folder must not redirect writes
                self.reject(e.rel, "destination folder leads outside the dataset")
                continue
            if e.stream is None:
                yield Task(e.rel, str(dest), e.path, known_sha256=self.sha_at.get(path))
                continue
            try:
                spooled = spool(e.stream, declared=e.size, dest=dest, budget=self.budget)
            except Refused as exc:
                self.reject(e.rel, str(exc))
                continue
            except UNPACK_ERRORS as exc:
                self.reject(e.rel, f"corrupt archive member ({exc})")
                continue
            yield Task(e.rel, str(dest), str(spooled), None, self.sha_at.get(path), spooled=True)

    def reject(self, rel: str, reason: str) -> None:
        self.rejected.append((rel, reason))
        self.tick(1)

    def take(self, c: Checked) -> None:
        path = self.prefix + c.rel
        self.tick(1)
        if c.status == "rejected":
            self.rejected.append((c.rel, c.reason))
        elif c.status == "existing":
            self.report["skipped_existing"] += 1
        elif c.sha256 in self.path_of:
            os.unlink(c.tmp)
            self.report["duplicates"] += 1
            self.duplicate_of.append((c.rel, self.path_of[c.sha256]))
        elif path in self.sha_at:
            os.unlink(c.tmp)
            self.rejected.append((c.rel, f"a different image is already recorded at {path}"))
        else:
            try:
                os.replace(c.tmp, self.images_dir / c.rel)
            except OSError as exc:  # e.g. an archive holding both "a.png" and "a.png/b.png"
                os.unlink(c.tmp)
                self.rejected.append((c.rel, f"cannot write it ({exc.strerror or exc})"))
                return
            self.sha_at[path], self.path_of[c.sha256] = c.sha256, path
            self.rows.append(
                dict(dataset_id=self.dataset_id, path=path, sha256=c.sha256, width=c.width,
                     height=c.height, format=c.format, state="new", updated_by=self.user)
            )  # fmt: skip
            self.report["ingested"] += 1
            if c.note:
                self.notes.append((c.rel, c.note))
            if len(self.rows) >= BATCH:
                self.flush()

    def flush(self) -> None:
        if self.rows:
            with self.ws.sessions.begin() as s:
                s.execute(insert(Image), self.rows)
            self.rows = []


def ingest(
    ws: Workspace,
    src: str | os.PathLike,
    *,
    dataset: str,
    labels: Sequence[str] = (),
    workers: int | None = None,
    progress: bool = True,
) -> IngestReport:
    """Copy the images of ``src`` into ``datasets/<dataset>/images/`` and record them.

    Parameters
    ----------
    ws : Workspace
    src : path
        A folder (recursive), a .zip or a .tar / .tar.gz / .tgz archive.
    dataset : str
        Created if missing.
    labels : sequence of str
        Label classes to create (existing ones are kept).
    workers : int, optional
        Checking processes. Default: for 200+ files on 3+ cores, one per core but one;
        otherwise (and with ``workers=1``) the checks run in this process.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    IngestReport
        Never raises for a bad file: those are listed in ``rejected``.

    Raises
    ------
    SourceError
        ``src`` is missing or not a folder or archive.
    ValueError
        A bad dataset name, label name or ``workers``.
    """
    check_dataset_name(dataset)
    names = [name.strip() for name in labels if name.strip()]
    src_path = Path(src).resolve()
    images_dir = (ws.dataset_dir(dataset) / "images").resolve()
    if images_dir.is_relative_to(src_path) and images_dir != src_path:
        raise ValueError(f"{src}: contains the destination {images_dir}; ingest a sub-folder")
    with dataset_lock(ws, dataset, on_wait=lambda why: print(why, file=sys.stderr, flush=True)):
        return _ingest_locked(ws, src_path, dataset, names, workers, progress)


def _ingest_locked(
    ws: Workspace, src_path: Path, dataset: str, names: list[str], workers, progress: bool
) -> IngestReport:
    images_dir = ws.dataset_dir(dataset) / "images"
    limits = Limits.for_source(src_path, ws.config)
    source = open_source(src_path, limits=limits)
    n_workers = _pool_size(workers, source.count)
    with ws.sessions.begin() as s:
        ds = get_or_create_dataset(s, dataset)
        ensure_labels(s, ds, names)
        dataset_id = ds.id
    images_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(ws, dataset_id, dataset, Budget(limits))
    pool = None
    if n_workers > 1:
        ctx = get_context("spawn")  # no fork: the parent holds database connections
        pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=init_worker)
    max_pixels = int(ws.config.get("max_pixels") or 100_000_000)
    checked_files = _ordered_map(
        run.tasks(source.entries), max_pixels, pool, n_workers, chunk=CHUNK[source.kind]
    )
    try:
        with progress_bar(total=source.count, label=f"ingest {dataset}", enabled=progress) as tick:
            run.tick = tick
            for checked in checked_files:
                run.take(checked)
        testhooks.pause_at("ingest flush")
    finally:
        checked_files.close()  # on an early exit: deletes staged files nobody will move
        try:
            run.flush()  # files already moved into place get their rows even on Ctrl-C
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    return IngestReport(
        dataset=dataset,
        rejected=sorted(run.rejected),
        duplicate_of=run.duplicate_of,
        ignored=source.ignored,
        notes=sorted(run.notes),
        **run.report,
    )
