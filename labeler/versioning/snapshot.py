"""The label snapshot of a version: ``datasets/NAME/labels/`` with every export and a manifest.

Layout::

    labels/labelstudio.json   labels/labelstudio.xml (labeling config)   labels/coco.json
    labels/yolo/              labels/voc/              labels/manifest.json

The snapshot is written into a scratch dir and moved in whole (``os.replace``): DVC's cache is
corrupted by files that change while ``dvc add`` hashes them, and a killed run must leave either
the old snapshot or the new one, never half of each.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import Text, cast, func, select

from labeler import __version__
from labeler.fileio import sha256_file
from labeler.store.models import Box, Image, Job, LabelClass
from labeler.store.queries import get_dataset
from labeler.workspace import Workspace

LABELS_DIR = "labels"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
SNAPSHOT_FORMATS = ("labelstudio", "coco", "yolo", "voc")


# --- the completeness gate -----------------------------------------------------------------


def run_gate(ws: Workspace, name: str):
    """The completeness report ``labeler check --strict`` would give (``.blocking`` refuses).

    With ``require_review = true`` in the workspace config, images not approved by a
    reviewer block a version too."""
    from labeler.completeness.report import check_dataset, review_required

    return check_dataset(ws, name, require_review=review_required(ws))


def gate_text(report) -> str:
    from labeler.completeness.text import format_text

    return format_text(report)


def missing_images(ws: Workspace, name: str) -> list[str]:
    """Database images whose file is not on disk (e.g. after checking out an older version)."""
    with ws.sessions() as s:
        ds = get_dataset(s, name)
        paths = s.scalars(select(Image.path).where(Image.dataset_id == ds.id)).all()
    return [p for p in paths if not ws.abspath(p).is_file()]


# --- exports -------------------------------------------------------------------------------


def _write_exports(ws: Workspace, name: str, out_dir: Path, *, reuse: Path | None = None) -> dict:
    """Write labelstudio.json (+ .xml config), coco.json, yolo/ and voc/ into ``out_dir``.

    Returns ``{path relative to labels/: sha256}``. Files are rendered in memory by the
    format modules (``FORMATS[fmt].render``) and written plainly: the scratch dir is moved in
    whole, so per-file atomic writes would only cost time. A file whose sha256 equals the one
    the previous ``labels/`` (``reuse``) recorded for it, and which is untouched since, is
    hard-linked instead: DVC then knows its hash from its state database (same path, inode
    and mtime) and skips re-hashing it; the previous ``labels/`` stays whole until the swap.
    """
    from labeler.formats import FORMATS
    from labeler.formats.records import load_records

    records = load_records(ws, name)
    files: dict[str, bytes] = {}
    for fmt in SNAPSHOT_FORMATS:
        for rel, text in FORMATS[fmt].render(records).items():
            if fmt in ("yolo", "voc"):
                target = f"{fmt}/{rel}"
            else:  # tasks.json / annotations.json / label_config.xml -> labelstudio.json ...
                target = f"{fmt}{PurePosixPath(rel).suffix}"
            files[_safe_rel(target)] = text.encode("utf-8")
    digests = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    reusable = _reusable(reuse, digests) if reuse is not None else {}
    for parent in {PurePosixPath(rel).parent for rel in files}:
        out_dir.joinpath(*parent.parts).mkdir(parents=True, exist_ok=True)

    def place(rel: str) -> None:
        dest = out_dir.joinpath(*rel.split("/"))
        if rel in reusable:
            try:
                os.link(reusable[rel], dest)
                return
            except OSError:
                pass  # no hard links on this filesystem: write a copy
        dest.write_bytes(files[rel])

    with ThreadPoolExecutor(max_workers=4) as pool:  # open/write/close wait on the disk
        list(pool.map(place, files, chunksize=256))
    return digests


def _safe_rel(rel: str) -> str:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        raise ValueError(f"refusing to write outside labels/: {rel!r}")
    return rel


def _reusable(previous: Path, digests: dict[str, str]) -> dict[str, Path]:
    """Files of the previous ``labels/`` with the same sha256 (per its manifest) and size,
    untouched since that manifest was written (mtime), so not re-read."""
    try:
        manifest_path = previous / MANIFEST
        written_ns = manifest_path.stat().st_mtime_ns
        old = json.loads(manifest_path.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    out = {}
    for rel, digest in digests.items():
        if old.get(f"{LABELS_DIR}/{rel}") != digest:
            continue
        path = previous.joinpath(*rel.split("/"))
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_mtime_ns <= written_ns:
            out[rel] = path
    return out


# --- the manifest --------------------------------------------------------------------------


def dataset_counts(ws: Workspace, name: str) -> dict:
    """Counts per image state and per label and box status, by SQL aggregates."""
    with ws.sessions() as s:
        ds = get_dataset(s, name)
        states = dict(
            s.execute(
                select(Image.state, func.count())
                .where(Image.dataset_id == ds.id)
                .group_by(Image.state)
            ).all()
        )
        rows = s.execute(
            select(LabelClass.name, Box.status, func.count())
            .join(Box, Box.label_id == LabelClass.id)
            .join(Image, Image.id == Box.image_id)
            .where(Image.dataset_id == ds.id)
            .group_by(LabelClass.name, Box.status)
        ).all()
        labels = [{"name": lb.name, "colour": lb.colour, "hotkey": lb.hotkey} for lb in ds.labels]
    per_label: dict[str, dict[str, int]] = {lb["name"]: {} for lb in labels}
    for label, status, n in rows:
        per_label.setdefault(label, {})[status] = n
    return {
        "images": sum(states.values()),
        "images_by_state": states,
        "boxes": sum(per_label.get(lb, {}).get("accepted", 0) for lb in per_label),
        "boxes_by_label": {lb: c.get("accepted", 0) for lb, c in per_label.items()},
        "boxes_by_label_status": per_label,
        "labels": labels,
    }


def matcher_runs(ws: Workspace, name: str) -> list[dict]:
    """The distinct matcher/import parameters behind the dataset's boxes, with box counts."""
    with ws.sessions() as s:
        ds = get_dataset(s, name)
        # Grouped as text: JSON columns have no equality operator on every backend.
        params_text = cast(Box.params, Text)
        rows = s.execute(
            select(Box.source, Box.job_id, params_text, func.count())
            .join(Image, Image.id == Box.image_id)
            .where(Image.dataset_id == ds.id, Box.source != "user")
            .group_by(Box.source, Box.job_id, params_text)
        ).all()
        job_ids = {job_id for _, job_id, _, _ in rows if job_id is not None}
        jobs = {job.id: job for job in s.scalars(select(Job).where(Job.id.in_(job_ids))) if job_ids}
    runs = []
    for source, job_id, text, count in rows:
        params = json.loads(text) if text not in (None, "null") else None
        job = jobs.get(job_id)
        runs.append(
            {
                "source": source,
                "job_id": job_id,
                "job_kind": job.kind if job else None,
                "job_params": job.params if job else None,
                "params": params,
                "boxes": count,
            }
        )
    return sorted(runs, key=lambda r: (r["source"], r["job_id"] or 0, json.dumps(r["params"])))


def dataset_file_hashes(ws: Workspace, name: str) -> dict[str, str]:
    """sha256 of every file under ``datasets/NAME`` but ``labels/``, keyed relative to it.

    Ingested images take the sha256 the database recorded at ingest (checked against the
    file by ``labeler check --verify-files``) instead of re-reading 100,000 files; any
    other file is hashed now, in threads (hashlib releases the GIL).
    """
    root = ws.dataset_dir(name)
    prefix = f"datasets/{name}/"
    with ws.sessions() as s:
        ds = get_dataset(s, name)
        known = {
            path[len(prefix) :]: digest
            for path, digest in s.execute(
                select(Image.path, Image.sha256).where(Image.dataset_id == ds.id)
            )
        }
    out, todo = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != LABELS_DIR]
        for fname in filenames:
            rel = fname if rel_dir == "." else f"{rel_dir}/{fname}"
            if rel in known:
                out[rel] = known[rel]
            else:
                todo[rel] = Path(dirpath) / fname
    with ThreadPoolExecutor(max_workers=4) as pool:
        out.update(zip(todo, pool.map(sha256_file, todo.values()), strict=True))
    return out


# --- writing the snapshot ------------------------------------------------------------------


def build_snapshot(
    ws: Workspace, name: str, scratch: Path, *, info: dict, gate: dict
) -> tuple[Path, dict]:
    """Write the whole ``labels/`` tree into ``scratch``; return it and the manifest.

    ``info`` (number, tag, message, created_by) and ``gate`` (the completeness record) go
    into the manifest as given.
    """
    labels = scratch / LABELS_DIR
    labels.mkdir()
    previous = ws.dataset_dir(name) / LABELS_DIR
    written = _write_exports(ws, name, labels, reuse=previous if previous.is_dir() else None)
    counts = dataset_counts(ws, name)
    hashes = dataset_file_hashes(ws, name)
    hashes.update({f"{LABELS_DIR}/{rel}": digest for rel, digest in written.items()})
    manifest = {
        "manifest_format": MANIFEST_FORMAT,
        "dataset": name,
        **info,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "labeler_version": __version__,
        "label_set": [lb["name"] for lb in counts["labels"]],
        "counts": {k: v for k, v in counts.items() if k != "labels"},
        "labels": counts["labels"],
        "completeness": gate,
        "matcher_runs": matcher_runs(ws, name),
        "sha256": dict(sorted(hashes.items())),
    }
    (labels / MANIFEST).write_text(
        json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return labels, manifest


def swap_in(new_labels: Path, dataset_dir: Path, scratch: Path) -> None:
    """Move ``new_labels`` to ``dataset_dir/labels`` whole; the old tree goes to ``scratch``."""
    target = dataset_dir / LABELS_DIR
    if target.exists() or target.is_symlink():
        os.replace(target, scratch / "old-labels")
    os.replace(new_labels, target)
    shutil.rmtree(scratch / "old-labels", ignore_errors=True)
