"""``labeler version create/list/diff/checkout`` and ``labeler remote add``."""

from __future__ import annotations

import json
from functools import wraps

import click

from labeler.commands._common import pass_workspace


def _handled(func):
    """Version errors become one ``Error: ...`` line (after the gate's report, if any)."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        from labeler.versioning import VersionError

        try:
            return func(*args, **kwargs)
        except VersionError as exc:
            report = getattr(exc, "report", None)
            if report is not None:
                from labeler.versioning.snapshot import gate_text

                click.echo(gate_text(report), err=True)
            raise click.ClickException(str(exc)) from exc

    return wrapper


@click.group()
def version() -> None:
    """Dataset versions: DVC snapshots tagged NAME@vN that training code can pin."""


@version.command("create")
@click.argument("name")
@click.option("-m", "--message", required=True, help="What changed in this version.")
@click.option("--allow-incomplete", is_flag=True, help="Version even if `check` finds gaps.")
@click.option("--push", is_flag=True, help="`dvc push` to the default remote afterwards.")
@pass_workspace
@_handled
def create(ws, name: str, message: str, allow_incomplete: bool, push: bool) -> None:
    """Snapshot dataset NAME (labels in every format + manifest), dvc add, commit, tag NAME@vN."""
    from labeler.versioning import PushFailed, create_version

    try:
        info, manifest = create_version(
            ws, name, message=message, allow_incomplete=allow_incomplete, push=push
        )
    except PushFailed as exc:
        click.echo(f"created {exc.version.tag}", err=True)
        raise
    gate = manifest["completeness"]
    if gate["allowed_incomplete"]:
        click.echo(
            f"warning: {info.tag} is incomplete (recorded in its manifest): "
            + "; ".join(gate["blockers"]),
            err=True,
        )
    counts = manifest["counts"]
    click.echo(
        f"created {info.tag} ({counts['images']} images, {counts['boxes']} boxes)"
        + (", pushed" if push else "")
    )
    click.echo(f"  labels: datasets/{name}/labels/  commit: {info.commit[:10]}")


@version.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_workspace
@_handled
def list_(ws, name: str, as_json: bool) -> None:
    """List the versions of dataset NAME: version, date, message, counts."""
    from labeler.versioning import check_name, list_versions

    versions = list_versions(ws, check_name(name))
    if as_json:
        rows = [
            {
                "version": v.number,
                "tag": v.tag,
                "date": v.date,
                "commit": v.commit,
                "message": v.message,
                "counts": v.counts,
            }  # fmt: skip
            for v in versions
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    if not versions:
        click.echo(f"no versions of {name} yet: `labeler version create {name} -m MSG`")
        return
    click.echo(f"{'version':<8} {'date':<25} {'images':>7} {'boxes':>7}  message")
    for v in versions:
        images, boxes = v.counts.get("images", "?"), v.counts.get("boxes", "?")
        first = v.message.splitlines()[0] if v.message else ""
        click.echo(f"v{v.number:<7} {v.date:<25} {images:>7} {boxes:>7}  {first}")


@version.command("diff")
@click.argument("name")
@click.argument("v1")
@click.argument("v2")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_workspace
@_handled
def diff(ws, name: str, v1: str, v2: str, as_json: bool) -> None:
    """Images added/removed and boxes added/removed/moved/relabelled from V1 to V2."""
    from labeler.versioning.diff import diff_versions, format_diff

    result = diff_versions(ws, name, v1, v2)
    click.echo(json.dumps(result.to_dict(), indent=1) if as_json else format_diff(result))


@version.command("checkout")
@click.argument("name")
@click.argument("v")
@click.option("--restore-db", is_flag=True, help="Also load the version's labels into the DB.")
@click.option("--force", is_flag=True, help="Discard dataset changes that are in no version.")
@pass_workspace
@_handled
def checkout(ws, name: str, v: str, restore_db: bool, force: bool) -> None:
    """Restore the files of dataset NAME (images and labels/) to version V."""
    from labeler.versioning import checkout_version, restore_database

    info = checkout_version(ws, name, v, force=force)
    first = info.message.splitlines()[0] if info.message else ""
    click.echo(f"datasets/{name} now holds {info.tag} ({first})")
    if restore_db:
        report = restore_database(ws, name)
        click.echo(
            f"database: imported {report.boxes} boxes and {report.proposals} proposals of "
            f"{info.tag} on {report.images} images (replaced {report.replaced} imported boxes)"
        )
    else:
        click.echo(
            "the database still holds the current labels; to restore them run\n"
            f"  labeler import labelstudio datasets/{name}/labels/labelstudio.json "
            f"--dataset {name}\n(or check out again with --restore-db)"
        )


@click.group()
def remote() -> None:
    """DVC remote storage where versions are pushed."""


@remote.command("add")
@click.argument("url_or_path")
@click.option("--name", default="storage", show_default=True, help="DVC name of the remote.")
@pass_workspace
@_handled
def add(ws, url_or_path: str, name: str) -> None:
    """Make URL_OR_PATH the default DVC remote and commit .dvc/config."""
    from labeler.versioning import add_remote, git

    url = add_remote(ws, url_or_path, name=name)
    click.echo(f"default DVC remote {name!r} -> {url} (committed in .dvc/config)")
    tags = [t for t in git(ws, "tag", "--list", "*@v*").split() if t]
    if tags:
        click.echo(
            f"warning: DVC reads the remote from each revision's config, so versions made "
            f"before now ({', '.join(tags[:5])}{', ...' if len(tags) > 5 else ''}) do not know "
            f"it: `dvc pull`/`dvc.api` on them need `-r {name}` or the remote set by the user",
            err=True,
        )
    else:
        click.echo("versions made from now on record this remote; push with --push")
