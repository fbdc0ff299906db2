"""``labeler check``: is a dataset complete and ready to release?

Exit status: 0 when the report was made (and, with ``--strict``, nothing blocks a
release); 1 for an error (no workspace, unknown dataset); 2 for bad options;
3 with ``--strict`` when something blocks a release.
"""

from __future__ import annotations

import json

import click

from labeler.commands._common import pass_workspace

EXIT_BLOCKED = 3
TEXT_LIMIT = 100


@click.command()
@click.option("--dataset", "-d", default=None, help="Dataset to check (default: every dataset).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (every item).")
@click.option(
    "--strict",
    is_flag=True,
    help=f"Exit with status {EXIT_BLOCKED} if anything blocks a release.",
)
@click.option(
    "--verify-files",
    is_flag=True,
    help="Hash every image and read its header: missing, unreadable, changed files.",
)
@click.option(
    "--min-box-size",
    type=click.FloatRange(min=0),
    default=None,
    metavar="PX",
    help="Report boxes narrower or lower than PX as tiny (default 4).",
)
@click.option(
    "--min-per-label",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Warn about labels with fewer than N accepted boxes (default 10).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help=f"Items listed per check (default {TEXT_LIMIT}; with --json, all).",
)
@click.option(
    "--require-review",
    is_flag=True,
    default=None,
    help="Done and empty images not approved by a reviewer block a release "
    "(default: the workspace's require_review setting).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@pass_workspace
def check(
    ws,
    dataset: str | None,
    as_json: bool,
    strict: bool,
    verify_files: bool,
    min_box_size: float | None,
    min_per_label: int | None,
    limit: int | None,
    require_review: bool | None,
    quiet: bool,
) -> None:
    """Report what is unfinished or wrong in a dataset, with the items behind each count.

    Blocks a release: images not done or confirmed empty (with --require-review: not
    approved by a reviewer), undecided proposals,
    invalid boxes (outside the image, under 2 px, non-finite, label of another
    dataset) and, with --verify-files, missing, unreadable or changed files.
    Warnings: tiny and near-duplicate boxes, duplicate images, rare labels.
    """
    from labeler.completeness import check_dataset, check_workspace, format_text
    from labeler.completeness.report import review_required

    options = {
        "verify_files": verify_files,
        "limit": limit if limit is not None or as_json else TEXT_LIMIT,
        "progress": not quiet and not as_json,
        "require_review": review_required(ws) if require_review is None else require_review,
    }
    if min_box_size is not None:
        options["min_box_size"] = min_box_size
    if min_per_label is not None:
        options["min_per_label"] = min_per_label
    if dataset is not None:
        reports = [check_dataset(ws, dataset, **options)]
    else:
        reports = check_workspace(ws, **options)
    blocking = any(r.blocking for r in reports)
    if as_json:
        doc = {
            "schema": "labeler-check/1",
            "blocking": blocking,
            "datasets": [r.to_dict() for r in reports],
        }
        click.echo(json.dumps(doc, indent=2, allow_nan=False))
    elif not reports:
        click.echo("No datasets yet: run `labeler ingest DIR --dataset NAME`.")
    else:
        click.echo("\n\n".join(format_text(r) for r in reports))
    if strict and blocking:
        raise SystemExit(EXIT_BLOCKED)
