"""The standalone batch prelabel behind ``scripts/prelabel.py``: no workspace, no database.

A folder of images and an exemplar file in, one JSON file out: Label Studio tasks with
``predictions`` (importable as they are) or COCO detections with scores. Same engine,
parallelism, progress and errors as ``labeler prelabel``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from labeler.fileio import atomic_write_text
from labeler.formats.coco import to_coco
from labeler.formats.labelstudio import to_tasks
from labeler.formats.records import BoxRecord, DatasetRecord, ImageRecord
from labeler.matching import MATCHER_VERSION
from labeler.prelabel.execute import ExemplarBank, Result, Task, run_tasks
from labeler.prelabel.exemplars import ExemplarFileError, load_exemplar_file
from labeler.prelabel.summary import RunSummary

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
FORMATS = ("labelstudio", "coco")
DEFAULT_PREFIX = "/data/local-files/?d="


class BatchError(ValueError):
    """Bad input to a batch run: the message names the file (and field)."""


def list_images(images_dir: str | Path) -> list[str]:
    """POSIX paths (relative to ``images_dir``) of its image files, recursively, sorted;
    hidden files and folders are left out."""
    root = Path(images_dir)
    if not root.is_dir():
        raise BatchError(f"{root}: not a folder")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(found)


def batch_prelabel(
    images_dir: str | Path,
    exemplars: str | Path,
    *,
    min_score: float = 0.5,
    workers: int | None = None,
    dask: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
):
    """Match every image of ``images_dir`` against the exemplar file.

    Returns
    -------
    (labels, results, summary)
        ``labels`` in exemplar order; ``results`` successful :class:`Result` rows sorted
        by path (``Result.id`` is the path relative to ``images_dir``).
    """
    root = Path(images_dir)
    names = list_images(root)
    if not names:
        raise BatchError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    crops = load_exemplar_file(exemplars, search_dirs=[root], ref_root=root)
    bank = ExemplarBank(tuple(crops), min_score=min_score)
    bank.matcher()  # validate the parameters before any worker starts
    tasks = (Task(id=name, path=str(root / name)) for name in names)
    summary = RunSummary(proposals=dict.fromkeys(bank.labels, 0))
    results = []
    if on_start is not None:
        on_start(len(names))
    start = time.perf_counter()
    for result in run_tasks(bank, tasks, workers=workers, dask=dask):
        summary.add(result)
        if result.error is None:
            results.append(result)
        if on_result is not None:
            on_result(result)
    summary.seconds = time.perf_counter() - start
    return bank.labels, sorted(results, key=lambda r: str(r.id)), summary


def to_records(labels: Sequence[str], results: Sequence[Result]) -> DatasetRecord:
    """The run as a :class:`DatasetRecord`: one image per result, its proposals scored."""
    images = tuple(
        ImageRecord(
            path=str(r.id),
            width=r.width,
            height=r.height,
            state="new",
            boxes=tuple(
                BoxRecord(
                    p.label, *p.box, status="proposed", score=p.score, model_version=MATCHER_VERSION
                )  # fmt: skip
                for p in r.proposals
            ),
        )
        for r in results
    )
    return DatasetRecord("batch", tuple(labels), images)


def labelstudio_tasks(
    labels: Sequence[str], results: Sequence[Result], *, image_prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """Label Studio tasks: one per image, its proposals as one prediction."""
    return to_tasks(to_records(labels, results), image_prefix=image_prefix)


def coco_detections(labels: Sequence[str], results: Sequence[Result]) -> dict[str, Any]:
    """COCO detection JSON; every proposal is an annotation with its ``score``."""
    description = f"Labeler batch prelabel ({MATCHER_VERSION})"
    return to_coco(to_records(labels, results), detections=True, description=description)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--exemplars", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="JSON list of {image, box: [x, y, w, h], label}; image absolute or relative to "
    "IMAGES_DIR.",
)  # fmt: skip
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="labelstudio",
              show_default=True)  # fmt: skip
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per core).")  # fmt: skip
@click.option("--dask", metavar="ADDRESS", default=None, help="Dask scheduler, tcp://host:8786.")
@click.option(
    "--image-prefix", default=DEFAULT_PREFIX, show_default=True,
    help="Label Studio: prefix of data.image before the path relative to IMAGES_DIR "
    "(the default suits LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=IMAGES_DIR).",
)  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def cli(images_dir, exemplars, out, fmt, min_score, workers, dask, image_prefix, quiet):
    """Pre-label every image in IMAGES_DIR by template matching; write OUT as Label Studio
    tasks with predictions or COCO detections."""
    from labeler.progress import progress

    with ExitStack() as stack:
        ticks = []

        def on_start(total: int) -> None:
            ticks.append(stack.enter_context(progress(total=total, label="prelabel",
                                                      enabled=not quiet)))  # fmt: skip

        try:
            labels, results, summary = batch_prelabel(
                images_dir, exemplars, min_score=min_score, workers=workers, dask=dask,
                on_start=on_start, on_result=lambda _r: ticks[0](1),
            )  # fmt: skip
        except (BatchError, ExemplarFileError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    if fmt == "coco":
        doc: Any = coco_detections(labels, results)
    else:
        doc = labelstudio_tasks(labels, results, image_prefix=image_prefix)
    atomic_write_text(out, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    click.echo(summary.table())
    click.echo(f"wrote {out} ({fmt}, {len(results)} images)")
    if summary.failed:
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="prelabel.py")
