"""The label snapshot of a version: ``datasets/NAME/labels/`` with every export and a manifest.

Layout::

    labels/labelstudio.json   labels/labelstudio.xml (labeling config)   labels/coco.json
    labels/yolo/              labels/voc/              labels/manifest.json

The snapshot is written into a scratch dir and moved in whole (``os.replace``): DVC's cache is
corrupted by files that change while ``dvc add`` hashes them, and a killed run must leave either
the old snapshot or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Text, cast, func, select

from labeler import __version__
from labeler.store.models import Box, Image, Job, LabelClass
from labeler.store.queries import get_dataset
from labeler.workspace import Workspace

LABELS_DIR = "labels"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
SNAPSHOT_FORMATS = ("labelstudio", "coco", "yolo", "voc")


# --- the completeness gate -----------------------------------------------------------------


def run_gate(ws: Workspace, name: str):
    """The completeness report ``labeler check --strict`` would give (``.blocking`` refuses)."""
    from labeler.completeness import check_dataset

    return check_dataset(ws, name)


def gate_text(report) -> str:
    from labeler.completeness import format_text

    return format_text(report)


def missing_images(ws: Workspace, name: str) -> list[str]:
    """Database images whose file is not on disk (e.g. after checking out an older version)."""
    with ws.sessions() as s:
        ds = get_dataset(s, name)
        paths = s.scalars(select(Image.path).where(Image.dataset_id == ds.id)).all()
    return [p for p in paths if not ws.abspath(p).is_file()]


# --- exports -------------------------------------------------------------------------------


def _write_exports(ws: Workspace, name: str, out_dir: Path) -> None:
    """Write labelstudio.json (+ .xml config), coco.json, yolo/ and voc/ into ``out_dir``."""
    from labeler.formats.records import load_records

    records = load_records(ws, name)
    scratch = out_dir / ".exports"
    for fmt, exporter in _exporters().items():
        target = scratch / fmt
        target.mkdir(parents=True)
        exporter.export(records, target)
        if fmt in ("yolo", "voc"):
            os.replace(target, out_dir / fmt)
            continue
        for path in sorted(target.iterdir()):
            if path.suffix in (".json", ".xml") and path.is_file():
                os.replace(path, out_dir / f"{fmt}{path.suffix}")
    shutil.rmtree(scratch)


def _exporters() -> dict:
    try:
        from labeler.formats import FORMATS
    except ImportError:  # TODO(versioning): drop once labeler.formats has its registry
        import importlib

        FORMATS = {}
        for fmt in SNAPSHOT_FORMATS:
            with contextlib.suppress(ModuleNotFoundError):
                FORMATS[fmt] = importlib.import_module(f"labeler.formats.{fmt}")
    return {fmt: FORMATS[fmt] for fmt in SNAPSHOT_FORMATS if fmt in FORMATS}


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(files: dict[str, Path]) -> dict[str, str]:
    """sha256 of every file (name -> path); hashlib releases the GIL, so threads help."""
    names = sorted(files)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        digests = pool.map(_sha256, (files[n] for n in names), chunksize=64)
        return dict(zip(names, digests, strict=True))


def _walk(root: Path, prefix: str, *, skip: str | None = None) -> dict[str, Path]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if skip and rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != skip]
        for fname in filenames:
            rel = fname if rel_dir == "." else f"{rel_dir}/{fname}"
            out[f"{prefix}{rel.replace(os.sep, '/')}"] = Path(dirpath) / fname
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
    _write_exports(ws, name, labels)
    counts = dataset_counts(ws, name)
    files = _walk(ws.dataset_dir(name), "", skip=LABELS_DIR)
    files.update(_walk(labels, f"{LABELS_DIR}/"))
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
        "sha256": hash_tree(files),
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
