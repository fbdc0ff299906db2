"""``labeler prelabel``: propose boxes on every image of a dataset that is not done or empty."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from labeler.commands._common import pass_workspace


@click.command()
@click.option("--dataset", "-d", "dataset", required=True, help="Dataset name.")
@click.option("--label", "-l", default=None, help="Use only this label's exemplars.")
@click.option(
    "--exemplars",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON list of {image, box: [x, y, w, h], label}; default: the dataset's exemplar boxes.",
)
@click.option(
    "--min-score", type=click.FloatRange(0.0, 1.0), default=None,
    help="Drop proposals scoring below this: the matcher's NCC (default 0.5), or with "
    "learned state the calibrated probability (default: the show rule alone).",
)  # fmt: skip
@click.option(
    "--learned/--no-learned", default=None,
    help="Rank and tighten with what the dataset's decisions taught (default: when a label "
    "has learned state), or use the matcher's scores alone.",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Worker processes (default: one per core).",
)  # fmt: skip
@click.option(
    "--dask", "dask", metavar="ADDRESS", default=None,
    help="Run on a Dask cluster, e.g. tcp://host:8786 (images must be readable there).",
)  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@pass_workspace
def prelabel(ws, dataset, label, exemplars, min_score, learned, workers, dask, quiet):
    """Propose boxes on every image of DATASET that is not done or empty.

    Re-running replaces the earlier run's undecided proposals (after a kill it finishes
    the rest, with no duplicates); accepted and rejected boxes are never touched, and a
    rejected box is never proposed again. Exit status 1 when any image failed.
    """
    from labeler.prelabel import prelabel as run
    from labeler.prelabel.execute import WorkerDied
    from labeler.progress import progress

    with ExitStack() as stack:
        ticks = []

        def on_start(total: int) -> None:
            tick = stack.enter_context(progress(total=total, label="prelabel", enabled=not quiet))
            ticks.append(tick)

        try:
            job_id, summary = run(
                ws,
                dataset,
                label=label,
                exemplars=exemplars,
                min_score=min_score,
                learned=learned,
                workers=workers,
                dask=dask,
                on_start=on_start,
                on_result=lambda _result: ticks[0](1),
            )
        except WorkerDied as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            if dask:  # an unreachable scheduler
                raise click.ClickException(f"Dask scheduler {dask}: {exc}") from exc
            raise
    click.echo(f"Pre-labelling (job {job_id}) finished:")
    click.echo(summary.table())
    if summary.failed:
        raise SystemExit(1)
