"""YOLO (Darknet / Ultralytics) text labels.

Export writes ``labels/<path relative to images/ without extension>.txt`` (one
line per accepted box: ``class cx cy w h``, fractions of the image size),
``classes.txt`` (one name per line, line number = class index) and
``data.yaml`` (Ultralytics: ``names``, ``nc``, ``train``/``val`` = ``images``;
put or link the images in ``images/`` beside ``labels/`` to train).

Every image gets a ``.txt``; a confirmed-empty image gets an empty one (a
negative example). Label Studio's converter agrees line for line; it names
label files by file name only, so images with the same name in different
folders collide there, while we mirror the folders.

Parse reads ``classes.txt`` and ``labels/**/*.txt``. YOLO stores neither image
sizes nor extensions: the result is ``normalized`` and its paths have no
suffix; :mod:`labeler.exchange.imports` fills both in from the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from labeler.formats._files import write_files
from labeler.formats.records import BoxRecord, DatasetRecord, FormatError, ImageRecord, number

LABELS_DIR, CLASSES_FILE, DATA_FILE = "labels", "classes.txt", "data.yaml"


def _fmt(v: float) -> str:
    return f"{v:.10f}".rstrip("0").rstrip(".") or "0"


def label_lines(image: ImageRecord, index: dict[str, int]) -> str:
    lines = []
    for b in image.accepted:
        cx, cy = (b.x + b.w / 2) / image.width, (b.y + b.h / 2) / image.height
        w, h = b.w / image.width, b.h / image.height
        lines.append(" ".join([str(index[b.label]), *map(_fmt, (cx, cy, w, h))]))
    return "".join(f"{line}\n" for line in lines)


def data_yaml(labels: tuple[str, ...]) -> str:
    # JSON strings are valid YAML scalars, so names with colons or quotes stay safe.
    names = "\n".join(f"  {i}: {json.dumps(n, ensure_ascii=False)}" for i, n in enumerate(labels))
    return (
        "# Ultralytics dataset file written by Labeler: images/ must sit beside labels/.\n"
        f"path: .\ntrain: images\nval: images\nnc: {len(labels)}\nnames:\n{names}\n"
    )


def render(records: DatasetRecord) -> dict[str, str]:
    index = records.label_index()
    files = {}
    for image in records.images:
        rel = f"{LABELS_DIR}/{PurePosixPath(image.path).with_suffix('')}.txt"
        if rel in files:
            raise ValueError(f"{image.path}: another image in its folder has the same stem ({rel})")
        files[rel] = label_lines(image, index)
    files[CLASSES_FILE] = "".join(f"{name}\n" for name in records.labels)
    files[DATA_FILE] = data_yaml(records.labels)
    return files


def export(records: DatasetRecord, out_dir: str | os.PathLike, **opts: Any) -> list[Path]:
    """Write ``labels/``, ``classes.txt`` and ``data.yaml`` into ``out_dir``."""
    return write_files(out_dir, render(records))


def _parse_file(txt: Path, classes: list[str]) -> tuple[BoxRecord, ...]:
    boxes = []
    for n, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise FormatError(txt, f"line {n}", f"expected 'class cx cy w h', got {line!r}")
        try:
            cls = int(fields[0])
        except ValueError:
            raise FormatError(txt, f"line {n} class", f"not a class index: {fields[0]!r}") from None
        if not 0 <= cls < len(classes):
            raise FormatError(
                txt, f"line {n} class", f"{cls} not in classes.txt (0-{len(classes) - 1})"
            )
        cx, cy, w, h = (
            number(v, txt, f"line {n} {k}")
            for k, v in zip(("cx", "cy", "w", "h"), fields[1:], strict=True)
        )
        boxes.append(BoxRecord(classes[cls], cx - w / 2, cy - h / 2, w, h))
    return tuple(boxes)


def parse(path: str | os.PathLike) -> DatasetRecord:
    """Read a folder holding ``classes.txt`` and ``labels/``."""
    root = Path(path)
    classes_file, labels_dir = root / CLASSES_FILE, root / LABELS_DIR
    if not classes_file.is_file():
        raise FormatError(classes_file, "", "missing (YOLO class names, one per line)")
    if not labels_dir.is_dir():
        raise FormatError(labels_dir, "", "missing (YOLO label .txt files)")
    classes = [c.strip() for c in classes_file.read_text(encoding="utf-8").splitlines()]
    while classes and not classes[-1]:
        classes.pop()
    if "" in classes:
        raise FormatError(classes_file, f"line {classes.index('') + 1}", "empty class name")
    images = []
    for txt in sorted(labels_dir.rglob("*.txt")):
        rel = txt.relative_to(labels_dir).with_suffix("").as_posix()
        images.append(ImageRecord(rel, 0, 0, None, _parse_file(txt, classes)))
    return DatasetRecord(root.name, tuple(classes), tuple(images), normalized=True,
                         paths_without_suffix=True)  # fmt: skip
