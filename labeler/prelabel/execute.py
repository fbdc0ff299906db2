"""Run the matcher over many images in parallel: the engine of ``labeler prelabel`` and
``scripts/prelabel.py``.

The parent cuts the exemplars out of their images once (an :class:`ExemplarBank` of
small crops, never whole images) and streams :class:`Task` rows (an image path plus the
boxes to exclude) to a :class:`concurrent.futures.Executor`: a process pool on this
machine or a Dask cluster. Each worker builds its :class:`~labeler.matching.Matcher`
once per bank (cached by the bank's key) and sends back a :class:`Result`. Workers never
touch a database or an output file: the parent does all writing.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from labeler.lifeline import die_with_parent
from labeler.matching import XYWH, Matcher, Proposal, clip_box, nms, single_threaded
from labeler.prelabel import ranked
from labeler.prelabel.exemplars import ExemplarCrop
from labeler.prelabel.forkserver import default_workers, pool_context
from labeler.prelabel.ranked import LabelModels

BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MAX_CACHED_MATCHERS = 16
CHUNK = 4


@dataclass(frozen=True, eq=False)
class ExemplarBank:
    """Everything a worker needs to build its matchers; ``key`` identifies it.

    ``learned`` holds ``(label, LabelModels)`` pairs when the dataset's decisions should
    rank the candidates (:mod:`labeler.prelabel.ranked`, as find similar does): scores are
    then calibrated probabilities and ``min_score`` a further cut on them; empty, proposals
    are the matcher's at ``min_score`` (NCC)."""

    crops: tuple[ExemplarCrop, ...]
    min_score: float | None = 0.5
    learned: tuple[tuple[str, LabelModels], ...] = ()
    key: str = field(init=False)

    def __post_init__(self) -> None:
        if not self.crops:
            raise ValueError("no exemplars: give at least one")
        digest = hashlib.sha256(repr(self.min_score).encode())
        for c in self.crops:
            digest.update(repr((c.crop.shape, str(c.crop.dtype), c.box, c.label)).encode())
            digest.update(c.crop.tobytes())
        for label, models in self.learned:
            digest.update(repr((label, models.key())).encode())
        object.__setattr__(self, "key", digest.hexdigest()[:16])

    @property
    def labels(self) -> tuple[str, ...]:
        """Distinct labels in first-seen order."""
        return tuple(dict.fromkeys(c.label for c in self.crops))

    def matcher(self, label: str | None = None) -> Matcher:
        """A new matcher over all exemplars (``label=None``) or one label's."""
        crops = [c for c in self.crops if label is None or c.label == label]
        # Learned: candidates come at the rankers' low threshold; min_score cuts probabilities.
        threshold = ranked.MATCHER_MIN_SCORE if self.learned else self.min_score
        return Matcher([c.exemplar() for c in crops], min_score=threshold)

    def params(self, label: str | None = None) -> dict:
        """Matcher parameters plus the exemplar refs (of ``label``, or all)."""
        refs = [dict(c.ref) for c in self.crops if label is None or c.label == label]
        params = {**self.matcher(label).params, "bank": self.key, "exemplars": refs}
        return {**params, "ranked": True} if self.learned else params

    def models(self, label: str) -> LabelModels:
        """The label's learned state (the priors when it has none)."""
        return dict(self.learned).get(label) or LabelModels.priors()


@dataclass(frozen=True)
class Task:
    """One image to match. ``exclude`` applies to every label (objects already labeled),
    ``exclude_by_label`` to one label only (boxes an annotator rejected)."""

    id: object
    path: str
    exclude: tuple[XYWH, ...] = ()
    exclude_by_label: Mapping[str, tuple[XYWH, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """What a worker sends back: proposals clipped to the image, or an error message."""

    id: object
    path: str
    proposals: tuple[Proposal, ...] = ()
    width: int = 0
    height: int = 0
    error: str | None = None
    cpu: float = 0.0  # CPU seconds the worker thread spent on this image


class WorkerDied(RuntimeError):
    """A pool worker process ended abruptly; the run cannot go on with this pool."""


# --- worker side -------------------------------------------------------------------------

_MATCHERS: dict[tuple[str, str | None], Matcher] = {}
_LOCK = threading.Lock()  # Dask workers may run several tasks in threads
_STATE: dict[str, object] = {"ready": False, "bank": None}


def init_worker(bank: ExemplarBank | None = None) -> None:
    """Pool initializer: one OpenCV thread per worker process, and remember ``bank``."""
    for var in BLAS_ENV:  # for BLAS libraries loaded from now on; the matcher uses none
        os.environ.setdefault(var, "1")
    single_threaded()
    _STATE["ready"] = True
    _STATE["bank"] = bank


def _init_pool_worker(bank: ExemplarBank) -> None:
    """Initializer of this machine's pool: :func:`init_worker`, and exit with the parent
    (a ``kill -9`` of ``labeler prelabel`` must not leave workers behind)."""
    die_with_parent()
    init_worker(bank)


def _cached_matcher(bank: ExemplarBank, label: str | None) -> Matcher:
    key = (bank.key, label)
    with _LOCK:
        matcher = _MATCHERS.get(key)
        if matcher is None:
            if len(_MATCHERS) >= MAX_CACHED_MATCHERS:
                _MATCHERS.clear()
            matcher = _MATCHERS[key] = bank.matcher(label)
    return matcher


def match_task(bank: ExemplarBank, image: np.ndarray, task: Task) -> list[Proposal]:
    """Proposals for one image, best first, honouring both kinds of exclusion."""
    if bank.learned:  # each label ranked on its own, its rejections excluded as for the rest
        return ranked.image_proposals(
            image, labels=bank.labels, matcher=lambda label: _cached_matcher(bank, label),
            staying=lambda label: [*task.exclude, *task.exclude_by_label.get(label, ())],
            models=bank.models, min_score=bank.min_score,
        )  # fmt: skip
    per_label = {lab: boxes for lab, boxes in task.exclude_by_label.items() if boxes}
    if not per_label:
        return _cached_matcher(bank, None).match(image, exclude=list(task.exclude))
    # Rejections hold for one label only, so each label gets its own exclusion list
    # (applied before NMS, as the matcher does); one NMS across labels afterwards.
    found: list[Proposal] = []
    for label in bank.labels:
        exclude = [*task.exclude, *per_label.get(label, ())]
        found += _cached_matcher(bank, label).match(image, exclude=exclude)
    if not found:
        return []
    boxes = np.array([p.box for p in found], dtype=np.float64)
    scores = np.array([p.score for p in found], dtype=np.float64)
    keep = nms(boxes, scores, _cached_matcher(bank, None).nms_iou)
    return [found[i] for i in keep]


def propose(bank: ExemplarBank, task: Task) -> Result:
    """Read ``task.path`` and match it; errors of this one image come back as ``error``."""
    if not _STATE["ready"]:  # a Dask worker: no initializer ran
        init_worker(_STATE["bank"])  # type: ignore[arg-type]
    return _propose(bank, task)


def _propose(bank: ExemplarBank, task: Task) -> Result:
    """:func:`propose` in a process already set up (a worker, or the parent while helping)."""
    from labeler.imageio import read_image  # imported here: it loads Pillow plugins

    start = time.thread_time()  # CPU, not wall time: comparable on a busy machine
    try:
        image = read_image(task.path)
        height, width = image.shape[:2]
        found = match_task(bank, image, task)
    except (ValueError, OSError) as exc:
        return Result(task.id, task.path, error=str(exc), cpu=time.thread_time() - start)
    # Proposals overhang the edge by up to half the template: keep the part inside (>= 1 px).
    clipped = ((p, clip_box(p.box, width=width, height=height)) for p in found)
    kept = tuple(
        Proposal(box=box, label=p.label, score=p.score) for p, box in clipped if box is not None
    )
    return Result(task.id, task.path, kept, width, height, None, time.thread_time() - start)


def propose_many(bank: ExemplarBank, tasks: list[Task]) -> list[Result]:
    """:func:`propose` for a few tasks: one round trip, so less executor overhead per image."""
    return [propose(bank, task) for task in tasks]


def _pool_propose_many(tasks: list[Task]) -> list[Result]:
    return propose_many(_STATE["bank"], tasks)  # type: ignore[arg-type]


# --- parent side -------------------------------------------------------------------------


@contextmanager
def _submitter(
    bank: ExemplarBank, workers: int | None, dask: str | None
) -> Iterator[tuple[int, Callable[[Task], Future]]]:
    """Yield (tasks to keep in flight, submit function) for a pool or a Dask client."""
    if dask:
        from distributed import Client

        with Client(dask, set_as_default=False) as client:
            # Ship the bank to every worker once, not with every task.
            bank_ref = client.scatter(bank, broadcast=True)
            executor = client.get_executor(pure=False)
            slots = sum(client.nthreads().values()) or 1
            yield 4 * slots, lambda chunk: executor.submit(propose_many, bank_ref, chunk)
        return
    ctx = pool_context(["labeler.prelabel.execute", "labeler.imageio"])
    workers = workers or default_workers()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_pool_worker, initargs=(bank,)
    )
    try:
        yield 4 * workers, lambda chunk: pool.submit(_pool_propose_many, chunk)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_tasks(
    bank: ExemplarBank,
    tasks: Iterable[Task],
    *,
    workers: int | None = None,
    dask: str | None = None,
    chunk: int = CHUNK,
) -> Iterator[Result]:
    """Match every task in parallel; yield results as they complete (any order).

    Parameters
    ----------
    bank : ExemplarBank
    tasks : iterable of Task
        Consumed lazily: only a few tasks per worker are in flight at once.
    workers : int, optional
        Process-pool size; default: the cores available. Ignored with ``dask``.
    dask : str, optional
        A Dask scheduler address (``tcp://host:8786``); image paths must be readable
        on the Dask workers.
    chunk : int
        Tasks sent to a worker at once (the per-task cost of the executor is about a
        tenth of matching an image; results still come back one per task).

    Yields
    ------
    Result
        One per task; an unreadable image is a ``Result`` with ``error`` set.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    pending = iter(tasks)

    def next_chunk() -> list[Task]:
        return list(itertools.islice(pending, chunk))

    with _submitter(bank, workers, dask) as (window, submit):
        inflight = set()
        for _ in range(window):
            if batch := next_chunk():
                inflight.add(submit(batch))
        # A new pool's workers first import the matcher (about 1.5 s, a tenth of a run of
        # 200 images): meanwhile this process matches chunks itself, until a result comes.
        helping = dask is None
        while helping and inflight and not any(f.done() for f in inflight):
            if not (batch := next_chunk()):
                break
            with single_threaded():
                results = [_propose(bank, task) for task in batch]
            yield from results
        while inflight:
            done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    results = fut.result()
                except BrokenProcessPool as exc:
                    raise WorkerDied(
                        "a worker process died (killed, or out of memory?); results received "
                        "so far are kept: run again to finish the rest"
                    ) from exc
                if batch := next_chunk():  # keep the workers busy while the caller writes
                    inflight.add(submit(batch))
                yield from results
