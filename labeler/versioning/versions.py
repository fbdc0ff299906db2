"""Dataset versions: ``datasets/NAME`` tracked by DVC, pinned by a git tag ``NAME@vN``.

``create_version`` gates on completeness, writes the label snapshot (:mod:`.snapshot`),
runs ``dvc add datasets/NAME``, commits the ``.dvc`` file and tags the commit with an annotated
tag whose message carries the counts (so ``list_versions`` needs git only). Training code pins
``NAME@vN`` with ``dvc.api`` (see ``scripts/train_example.py``). Every git/DVC call goes through
:mod:`labeler.versioning.repo` (one cross-process lock, kill-safe recovery).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from labeler.versioning.repo import (  # noqa: F401 - re-exported for callers
    DEFAULT_LOCK_TIMEOUT,
    VersionError,
    _Phases,
    dvc,
    git,
    tmp_dir,
    version_lock,
)
from labeler.workspace import Workspace

SUMMARY_TRAILER = "Labeler-Summary: "
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class IncompleteDataset(VersionError):
    """The completeness gate refused a version; ``report`` is the gate's report."""

    def __init__(self, message: str, report) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class VersionInfo:
    """One tagged version of a dataset, as ``version list`` shows it."""

    name: str
    number: int
    commit: str
    date: str  # ISO 8601, the tag's date
    message: str
    counts: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return version_tag(self.name, self.number)


def version_tag(name: str, number: int) -> str:
    return f"{name}@v{number}"


def check_name(name: str) -> str:
    """Refuse dataset names that are not safe as a path component and in a git tag."""
    if not _NAME_RE.match(name) or name.endswith((".lock", ".")) or ".." in name:
        raise VersionError(
            f"dataset name {name!r} cannot be versioned: use letters, digits, '.', '_' and '-'"
        )
    return name


def parse_version(name: str, version: str | int) -> int:
    """``3``, ``"3"``, ``"v3"`` or ``"NAME@v3"`` -> 3."""
    text = str(version).strip()
    if text.startswith(f"{name}@"):
        text = text[len(name) + 1 :]
    match = re.fullmatch(r"v?([1-9][0-9]*)", text)
    if not match:
        raise VersionError(f"bad version {version!r}: expected vN, N or {name}@vN (e.g. v2)")
    return int(match.group(1))


# --- versions ------------------------------------------------------------------------------


def list_versions(ws: Workspace, name: str) -> list[VersionInfo]:
    """Every ``NAME@vN`` tag, oldest first, with its message and the counts recorded in it."""
    fmt = (
        "%(refname:strip=2)%00%(*objectname)%(objectname)%00"
        "%(creatordate:iso-strict)%00%(contents)%01"
    )
    out = git(ws, "for-each-ref", f"--format={fmt}", f"refs/tags/{name}@v*")
    versions = []
    for record in out.split("\x01"):
        parts = record.strip("\n").split("\x00")
        if len(parts) != 4:
            continue
        tag, commit, date, body = parts
        match = re.fullmatch(re.escape(name) + r"@v([1-9][0-9]*)", tag)
        if not match:
            continue
        message, counts = _parse_tag_body(body)
        versions.append(VersionInfo(name, int(match.group(1)), commit[:40], date, message, counts))
    return sorted(versions, key=lambda v: v.number)


def _parse_tag_body(body: str) -> tuple[str, dict]:
    lines, counts = [], {}
    for line in body.strip().splitlines():
        if line.startswith(SUMMARY_TRAILER):
            try:
                counts = json.loads(line[len(SUMMARY_TRAILER) :])
            except json.JSONDecodeError:
                counts = {}
        else:
            lines.append(line)
    return "\n".join(lines).strip(), counts


def get_version(ws: Workspace, name: str, version: str | int) -> VersionInfo:
    number = parse_version(name, version)
    versions = list_versions(ws, name)
    for info in versions:
        if info.number == number:
            return info
    known = ", ".join(f"v{v.number}" for v in versions) or "none"
    raise VersionError(f"no version {version_tag(name, number)} (versions of {name}: {known})")


def add_remote(ws: Workspace, url: str, *, name: str = "storage") -> str:
    """Make ``url`` (a URL or a local path) DVC's default remote and commit ``.dvc/config``.

    Returns the URL as configured (local paths made absolute).
    """
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):
        url = str(Path(url).expanduser().resolve())
    with version_lock(ws, f"remote add {url}"):
        dvc(ws, "remote", "add", "--force", "--default", name, url)
        paths = _dvc_meta_paths(ws)
        git(ws, "add", "--", *paths)
        git(ws, "commit", "-q", "--allow-empty", "-m", f"DVC remote {name}: {url}", "--", *paths,
            identity=True)  # fmt: skip
    return url


def _dvc_meta_paths(ws: Workspace) -> list[str]:
    """DVC's own files a clone needs (config with the remote, ignores)."""
    candidates = [".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]
    return [p for p in candidates if (ws.root / p).exists()]


# --- create and checkout -------------------------------------------------------------------


class PushFailed(VersionError):
    """The version was made and tagged, but ``dvc push`` failed; ``version`` says which."""

    def __init__(self, message: str, version: VersionInfo) -> None:
        super().__init__(message)
        self.version = version


def _dvc_file(ws: Workspace, name: str) -> Path:
    return ws.dataset_dir(name).with_suffix(".dvc")


def create_version(
    ws: Workspace,
    name: str,
    *,
    message: str,
    allow_incomplete: bool = False,
    push: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> tuple[VersionInfo, dict]:
    """Gate, snapshot, ``dvc add``, commit and tag ``NAME@vN``; return the version and manifest.

    Raises :class:`IncompleteDataset` (with the report) when the completeness gate blocks and
    ``allow_incomplete`` is false; nothing is written then.
    """
    from labeler.versioning.snapshot import build_snapshot, missing_images, run_gate, swap_in

    check_name(name)
    if not message.strip():
        raise VersionError("a version needs a message (-m 'what changed')")
    with version_lock(ws, f"version create {name}", timeout=lock_timeout):
        clock = _Phases(f"version create {name}")
        report = run_gate(ws, name)
        clock("completeness gate")
        if report.blocking and not allow_incomplete:
            raise IncompleteDataset(
                f"dataset {name!r} is not complete ({'; '.join(report.blockers)}): finish it "
                f"or pass --allow-incomplete to version it anyway",
                report,
            )
        if not ws.dataset_dir(name).is_dir():
            raise VersionError(f"{ws.dataset_dir(name)} does not exist: nothing to version")
        missing = missing_images(ws, name)
        if missing:
            raise VersionError(
                f"{len(missing)} image(s) of dataset {name!r} are missing on disk (e.g. "
                f"{missing[0]}); after `labeler version checkout` of an older version, check "
                f"out the latest one again before creating a version"
            )
        number = max((v.number for v in list_versions(ws, name)), default=0) + 1
        tag = version_tag(name, number)
        gate = {
            "complete": not report.blocking,
            "allowed_incomplete": bool(report.blocking and allow_incomplete),
            "blockers": list(report.blockers),
            "summary": report.summary(),
        }
        info = {"version": number, "tag": tag, "message": message, "created_by": ws.user}
        scratch = tmp_dir(ws)
        try:
            labels, manifest = build_snapshot(ws, name, scratch, info=info, gate=gate)
            clock("snapshot (exports, manifest)")
            swap_in(labels, ws.dataset_dir(name), scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        dvc(ws, "add", "--quiet", str(ws.dataset_dir(name)))
        clock("dvc add")
        paths = [f"datasets/{name}.dvc", "datasets/.gitignore", *_dvc_meta_paths(ws)]
        git(ws, "add", "--", *paths)
        git(ws, "commit", "-q", "--allow-empty", "-m", f"{tag}: {message}", "--", *paths,
            identity=True)  # fmt: skip
        counts = manifest["counts"]
        summary = {k: counts[k] for k in ("images", "boxes", "images_by_state", "boxes_by_label")}
        summary["complete"] = gate["complete"]
        body = f"{message}\n\n{SUMMARY_TRAILER}{json.dumps(summary, sort_keys=True)}\n"
        git(ws, "tag", "-a", tag, "-m", body, identity=True)
        version = get_version(ws, name, number)
        clock("git commit + tag")
        if push:
            try:
                dvc(ws, "push", "--quiet", str(_dvc_file(ws, name)))
            except VersionError as exc:
                raise PushFailed(
                    f"{tag} was created, but {exc}; run `dvc push` in {ws.root} once the "
                    f"remote is reachable",
                    version,
                ) from exc
    return version, manifest


def checkout_version(
    ws: Workspace, name: str, version: str | int, *, force: bool = False
) -> VersionInfo:
    """Restore ``datasets/NAME`` (images and labels/) to a version's files.

    Refuses when the dataset folder holds changes that are in no version (they would be lost)
    unless ``force``. The database is not touched: see :func:`restore_database`.
    """
    check_name(name)
    info = get_version(ws, name, version)
    dvc_path = _dvc_file(ws, name)
    with version_lock(ws, f"version checkout {info.tag}"):
        if not force and dvc_path.exists() and ws.dataset_dir(name).exists():
            status = json.loads(dvc(ws, "status", "--json", str(dvc_path)) or "{}")
            changes = [
                change
                for entries in status.values()
                for entry in entries
                if isinstance(entry, dict)
                for change in entry.get("changed outs", {}).values()
            ]
            if "modified" in changes:
                raise VersionError(
                    f"datasets/{name} has changes that are in no version (new or edited files "
                    f"since the last `labeler version create`); version them first, or pass "
                    f"--force to discard them"
                )
        git(ws, "checkout", info.tag, "--", f"datasets/{name}.dvc")
        dvc(ws, "checkout", "--quiet", "--force", str(dvc_path))
    return info


def restore_database(ws: Workspace, name: str):
    """Import the checked-out ``labels/labelstudio.json`` into the database (one transaction).

    Same as ``labeler import labelstudio datasets/NAME/labels/labelstudio.json --dataset NAME
    --create-labels``: boxes of earlier imports on the matched images are replaced; boxes drawn
    or matched in the database since are kept. Returns the importer's report.
    """
    from labeler.exchange.imports import ImportFailed, import_records
    from labeler.formats import FORMATS

    path = ws.dataset_dir(name) / "labels" / "labelstudio.json"
    if not path.is_file():
        raise VersionError(f"{path} is missing: check out a version first")
    try:
        records = FORMATS["labelstudio"].parse(path)
        return import_records(ws, name, records, source=path, create_labels=True)
    except (ImportFailed, ValueError) as exc:
        raise VersionError(f"restoring the database from {path} failed: {exc}") from exc
