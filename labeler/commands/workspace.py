"""``labeler init`` (make a workspace) and ``labeler ingest`` (add images to a dataset)."""

from __future__ import annotations

from pathlib import Path

import click

from labeler.commands._common import friendly_errors, pass_workspace


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
    "(default: sqlite:///.labeler/labeler.db inside the workspace).",
)
@friendly_errors
def init(directory: Path | None, database_url: str | None) -> None:
    """Make DIRECTORY (default: this folder) a Labeler workspace.

    A git repository (an existing one is reused) with DVC, ``datasets/`` and
    ``.labeler/`` (config and database, ignored by git). Safe to run again.
    """
    from sqlalchemy.engine import make_url

    from labeler.workspace import CONFIG_DIR, CONFIG_FILE, init_workspace

    root = (directory or Path.cwd()).resolve()
    existed = (root / CONFIG_DIR / CONFIG_FILE).is_file()
    ws = init_workspace(root, database_url=database_url)
    url = make_url(ws.database_url).render_as_string(hide_password=True)
    ws.engine.dispose()
    verb = "Already a Labeler workspace" if existed else "Initialised Labeler workspace"
    click.echo(f"{verb}: {ws.root} (database {url})")


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--dataset", "-d", required=True, help="Dataset to add the images to.")
@click.option(
    "--labels",
    "-l",
    default="",
    metavar="A,B,...",
    help="Label classes to create, comma-separated, e.g. RBC,WBC,Platelets.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Checking processes (default: cores - 1 on 3+ cores for 200+ files, else in-process).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@pass_workspace
def ingest(ws, src: Path, dataset: str, labels: str, workers: int | None, quiet: bool) -> None:
    """Copy the images of SRC (a folder, .zip, .tar or .tar.gz) into a dataset.

    Every file is checked (a decodable PNG, JPEG, TIFF, BMP or WebP within the pixel
    cap); duplicates and files already in are skipped, and unsafe archive members
    (absolute paths, '..', links, devices) are refused. Exits non-zero when nothing
    could be ingested.
    """
    from labeler.ingest import ingest as run

    names = [name.strip() for name in labels.split(",") if name.strip()]
    report = run(ws, src, dataset=dataset, labels=names, workers=workers, progress=not quiet)
    for path, original in report.duplicate_of:
        click.echo(f"duplicate  {path}  (same image as {original})")
    for path, reason in report.rejected:
        click.echo(f"rejected   {path}: {reason}")
    for path, note in report.notes:
        click.echo(f"note       {path}: {note}")
    click.echo(report.summary())
    if not report.ok:
        raise click.ClickException(f"nothing could be ingested from {src}")
