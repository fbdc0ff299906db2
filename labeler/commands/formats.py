"""``labeler export``, ``labeler import`` and ``labeler push-labelstudio``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click

from labeler.commands._common import pass_workspace

FORMAT_NAMES = ("labelstudio", "coco", "yolo", "voc")

dataset_option = click.option("--dataset", "-d", "dataset", required=True, help="Dataset name.")


@contextmanager
def _errors():
    """Known failures become one clear message and exit status 1, not a traceback."""
    from labeler.exchange.imports import ImportFailed
    from labeler.exchange.push import PushError
    from labeler.formats.records import FormatError
    from labeler.store.queries import NotFound
    from labeler.workspace import WorkspaceError

    try:
        yield
    except (FormatError, ImportFailed, PushError, NotFound, WorkspaceError) as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, OSError) as exc:  # e.g. an unwritable --out, a stem collision
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


@click.command()
@dataset_option
@click.option("--format", "-f", "fmt", type=click.Choice(FORMAT_NAMES), required=True)
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--image-prefix", default=None,
    help="Label Studio only: prefix of data.image"
    " (default /data/local-files/?d=datasets/NAME/images/).",
)  # fmt: skip
@click.option(
    "--done-only", is_flag=True,
    help="Only images marked done or empty (default: every image, with its accepted boxes so far).",
)  # fmt: skip
@pass_workspace
def export(dataset, fmt, out, image_prefix, done_only, ws):
    """Export DATASET's boxes as Label Studio JSON, COCO, YOLO or Pascal VOC into OUT.

    Confirmed-empty images are always included (an empty annotation / label file).
    """
    from labeler.formats import FORMATS, load_records

    with _errors():
        records = load_records(ws, dataset, done_only=done_only)
        opts = {"image_prefix": image_prefix} if image_prefix is not None else {}
        written = FORMATS[fmt].export(records, out, **opts)
    n_boxes = sum(len(img.accepted) for img in records.images)
    click.echo(
        f"exported {len(records.images)} images, {n_boxes} boxes as {fmt}: "
        f"{len(written)} files in {out}"
    )


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(FORMAT_NAMES))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@dataset_option
@click.option("--create-labels", is_flag=True, help="Add labels the file uses that are missing.")
@click.option(
    "--skip-unmatched", is_flag=True,
    help="Import the matched entries even if some match no ingested image (they are listed).",
)  # fmt: skip
@pass_workspace
def import_(fmt, path, dataset, create_labels, skip_unmatched, ws):
    """Import boxes from a FORMAT file or folder at PATH into DATASET (one transaction).

    Annotations become accepted boxes, predictions proposals. Entries are matched to
    ingested images by relative path, else by unique file name; importing the same file
    again replaces the boxes it imported before.
    """
    from labeler.exchange.imports import import_records
    from labeler.formats import FORMATS

    with _errors():
        records = FORMATS[fmt].parse(path)
        report = import_records(
            ws, dataset, records, source=path, create_labels=create_labels,
            skip_unmatched=skip_unmatched,
        )  # fmt: skip
    click.echo(
        f"imported {report.boxes} boxes and {report.proposals} proposals on {report.images}"
        f" images (replaced {report.replaced} earlier imported boxes,"
        f" skipped {report.skipped_identical} already present)"
    )
    if report.created_labels:
        click.echo(f"created labels: {', '.join(report.created_labels)}")
    for note in records.notes:
        click.echo(f"note: {note}", err=True)
    for entry in report.unmatched:
        click.echo(f"skipped, no matching image: {entry}", err=True)


@click.command("push-labelstudio")
@click.option("--url", required=True, help="Label Studio base URL, e.g. http://localhost:8080")
@click.option(
    "--token", required=True, envvar="LABEL_STUDIO_API_KEY", show_envvar=True, help="API token."
)
@dataset_option
@click.option("--project", "project", default=None, help="Project title (default: the dataset).")
@click.option(
    "--image-url-prefix", default=None,
    help="Prefix of each task's image URL; e.g. http://HOST:PORT/api/v1/images/ to serve them "
    "from `labeler serve` (image id + /file is appended). Default: Label Studio local files.",
)  # fmt: skip
@click.option(
    "--local-files-root", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT, when it serves the images (default: the "
    "workspace root).",
)  # fmt: skip
@pass_workspace
def push_labelstudio(url, token, dataset, project, image_url_prefix, local_files_root, ws):
    """Create or update a Label Studio project with DATASET's images, boxes and proposals.

    Pushing again replaces the project's tasks for these images instead of duplicating them.
    """
    from labeler.exchange.push import push
    from labeler.formats import load_records

    with _errors():
        records = load_records(ws, dataset)
        result = push(
            records, url=url, token=token, title=project or dataset,
            image_url_prefix=image_url_prefix, images_dir=ws.dataset_dir(dataset) / "images",
            document_root=local_files_root or ws.root,
        )  # fmt: skip
    click.echo(
        f"project {result.title!r} (id {result.project_id}): {result.created} tasks imported,"
        f" {result.deleted} replaced; {url.rstrip('/')}/projects/{result.project_id}"
    )
