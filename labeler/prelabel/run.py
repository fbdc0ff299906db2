"""Batch prelabel of a dataset (``labeler prelabel``): proposals on every image that is not
done or empty.

Three steps: gather the exemplars (the dataset's exemplar boxes or a JSON file,
:mod:`labeler.prelabel.exemplars`), match every image in parallel
(:mod:`labeler.prelabel.execute`), and write each image's proposals in a transaction of its
own (:mod:`labeler.prelabel.storage`): re-runs replace rather than duplicate, a killed run is
finished by running again, and decided boxes are never touched nor proposed over. A
``Job`` row records the parameters and the progress.

For tests: ``LABELER_TEST_STOP_AFTER=N`` makes the run crash (SIGKILL) right after the N-th
image is committed (:mod:`labeler.testhooks`), so a kill-and-resume test stops at a known
point whatever the machine's speed.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labeler import testhooks
from labeler.matching import clip_box
from labeler.prelabel.execute import ExemplarBank, Result, run_tasks
from labeler.prelabel.exemplars import ExemplarCrop, exemplar_crop, load_exemplar_file
from labeler.prelabel.ranked import LabelModels, dataset_models
from labeler.prelabel.storage import JOB_KIND, count_done, plan_tasks, store_result
from labeler.prelabel.summary import RunSummary
from labeler.store.jobs import fail_orphaned
from labeler.store.models import Box, Dataset, Image, Job
from labeler.store.queries import ensure_labels, get_dataset
from labeler.workspace import Workspace

PROGRESS_EVERY = 0.25  # seconds between Job.done updates
MATCHER_MIN_SCORE = 0.5  # the matcher's own threshold, when no learned state ranks


class PrelabelError(ValueError):
    """A prelabel run that cannot start (no exemplars, unknown label, bad file)."""


def dataset_exemplars(
    ws: Workspace, session: Session, dataset: Dataset, *, label: str | None = None
) -> list[ExemplarCrop]:
    """Crops of the dataset's accepted boxes flagged ``is_exemplar`` (of ``label``)."""
    from labeler.imageio import read_image

    query = (
        select(Box, Image.path)
        .join(Image, Box.image_id == Image.id)
        .where(Image.dataset_id == dataset.id, Box.status == "accepted", Box.is_exemplar)
        .order_by(Box.id)
    )
    crops = []
    cache: dict[str, np.ndarray] = {}
    for box, path in session.execute(query):
        if label is not None and box.label.name != label:
            continue
        if path not in cache:
            cache[path] = read_image(ws.abspath(path))
        ref = {"box_id": box.id, "image": path, "box": list(box.xywh), "label": box.label.name}
        try:
            height, width = cache[path].shape[:2]
            # Stored boxes may overhang the edge by half a pixel: keep the part inside.
            xywh = clip_box(box.xywh, width=width, height=height)
            if xywh is None:
                raise ValueError(f"box {box.xywh} lies outside the {width}x{height} image")
            crops.append(exemplar_crop(cache[path], xywh, box.label.name, ref=ref))
        except ValueError as exc:
            raise PrelabelError(f"exemplar box {box.id} on {path}: {exc}") from exc
    if not crops:
        which = f" of label {label!r}" if label else ""
        raise PrelabelError(
            f"dataset {dataset.name!r} has no exemplar boxes{which} (accepted boxes flagged "
            f"as exemplars): mark one in the web UI or pass --exemplars FILE.json"
        )
    return crops


def _learned_models(
    session: Session, dataset: Dataset, crops: tuple[ExemplarCrop, ...]
) -> tuple[tuple[str, LabelModels], ...]:
    """``(label, what it learned)`` for the run's labels, in first-seen order (the priors
    for a label the dataset does not have yet)."""
    by_id = dataset_models(session, dataset_id=dataset.id)
    known = {lab.name: by_id.get(lab.id) for lab in dataset.labels}
    names = dict.fromkeys(c.label for c in crops)
    return tuple((name, known.get(name) or LabelModels.priors()) for name in names)


def prelabel(
    ws: Workspace,
    dataset_name: str,
    *,
    label: str | None = None,
    exemplars: str | Path | None = None,
    min_score: float | None = None,
    learned: bool | None = None,
    workers: int | None = None,
    dask: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> tuple[int, RunSummary]:
    """Propose boxes on every image of ``dataset_name`` that is not done or empty.

    Parameters
    ----------
    ws : Workspace
    dataset_name : str
    label : str, optional
        Use only this label's exemplars.
    exemplars : path-like, optional
        A JSON exemplar file instead of the dataset's exemplar boxes; a relative
        ``image`` is looked up in the dataset's images/ folder, then beside the file.
        Its labels that the dataset lacks are created (next colour and hotkey).
    min_score : float, optional
        Without learned state, the matcher score threshold (NCC, 0..1; default
        :data:`MATCHER_MIN_SCORE`); with it, a cut on the calibrated probabilities beyond
        the rule that shows what saves time.
    learned : bool, optional
        Rank, tighten and choose with what the dataset's decisions taught each label, as
        find similar does (:mod:`labeler.prelabel.ranked`). Default: when any label of
        the run has learned something; ``False``: the matcher's scores alone.
    workers, dask
        See :func:`labeler.prelabel.execute.run_tasks`.
    on_start : callable, optional
        Called with the number of images to match, before matching starts.
    on_result : callable, optional
        Called with each :class:`Result` once it is committed (progress bars).

    Returns
    -------
    (job_id, RunSummary)
    """
    user = ws.user
    with ws.sessions.begin() as s:
        dataset = get_dataset(s, dataset_name)
        if exemplars is not None:
            exemplars = Path(exemplars)
            crops = load_exemplar_file(
                exemplars,
                search_dirs=[ws.dataset_dir(dataset.name) / "images", exemplars.resolve().parent],
                label=label,
                ref_root=ws.root,
            )
        else:
            crops = dataset_exemplars(ws, s, dataset, label=label)
        crops = tuple(crops)
        models = _learned_models(s, dataset, crops) if learned is not False else ()
        if learned is None and not any(m.learned for _, m in models):
            models = ()
        if min_score is None and not models:
            min_score = MATCHER_MIN_SCORE
        bank = ExemplarBank(crops, min_score=min_score, learned=models)
        params = {lab: bank.params(lab) for lab in bank.labels}
        label_ids = {lc.name: lc.id for lc in ensure_labels(s, dataset, bank.labels)}
        tasks = plan_tasks(s, ws, dataset, bank.labels)
        n_images = s.scalar(
            select(func.count()).select_from(Image).where(Image.dataset_id == dataset.id)
        )
        fail_orphaned(s, kind=JOB_KIND, dataset_id=dataset.id)
        job = Job(
            kind=JOB_KIND,
            dataset_id=dataset.id,
            status="running",
            total=len(tasks),
            created_by=user,
            params={
                **bank.params(),
                "label": label,
                "exemplar_file": str(exemplars) if exemplars else None,
                "workers": workers,
                "dask": dask,
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        s.add(job)
        s.flush()
        job_id = job.id
    summary = RunSummary(skipped=n_images - len(tasks), proposals=dict.fromkeys(bank.labels, 0))
    start = time.perf_counter()
    status, error = "done", None
    try:
        if on_start is not None:
            on_start(len(tasks))
        uncounted, counted_at = 0, time.monotonic()
        committed, stop_after = 0, testhooks.stop_after()
        # One connection for the run, one transaction per image: a Session per image
        # costs more than the SQL it sends.
        with ws.engine.connect() as conn:
            for result in run_tasks(bank, tasks, workers=workers, dask=dask):
                uncounted += 1
                with conn.begin():
                    stored = None
                    if result.error is None:
                        stored = store_result(
                            conn,
                            result,
                            job_id=job_id,
                            label_ids=label_ids,
                            params=params,
                            user=user,
                        )
                    # Job progress a few times a second, not per image: a statement costs about
                    # as much as storing an image's proposals. Same transaction: never ahead; the
                    # exact count is written at the end.
                    if time.monotonic() - counted_at >= PROGRESS_EVERY:
                        count_done(conn, job_id, uncounted)
                        uncounted, counted_at = 0, time.monotonic()
                committed += 1
                if committed == stop_after:
                    testhooks.crash()
                if stored is None and result.error is None:
                    summary.skipped += 1
                else:
                    summary.add(result, stored)
                if on_result is not None:
                    on_result(result)
        if summary.failed:
            status = "failed"
            error = "\n".join(f"{path}: {err}" for path, err in summary.failed)
    except BaseException as exc:
        status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary.seconds = time.perf_counter() - start
        with ws.sessions.begin() as s:
            done = summary.images + summary.skipped + len(summary.failed) - (n_images - len(tasks))
            s.execute(
                update(Job).where(Job.id == job_id).values(status=status, error=error, done=done)
            )
    return job_id, summary
