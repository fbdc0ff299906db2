"""COCO object detection JSON (``annotations.json``).

Export: ``images`` (``file_name`` = path relative to ``images/``, ``width``,
``height``, plus ``labeler_state``), ``categories`` (``id`` = class index + 1,
in the dataset's label order), ``annotations`` from accepted boxes only
(``bbox`` = ``[x, y, w, h]`` in pixels, ``area`` = w*h, ``iscrowd`` 0).
Proposals are not exported: COCO has no notion of an undecided box.

Every image is listed, including confirmed-empty ones (no annotations). Label
Studio's converter, fed our Label Studio JSON, agrees box for box; the
differences are ours being more complete: it lists an empty image with
``width``/``height`` null (it cannot open the image without downloading it),
numbers categories from 0, and names images by their URL.

Parse accepts any COCO detection file (``segmentation`` and other extra keys
are ignored); ``labeler_state`` is read back when present.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from labeler.formats._files import write_files
from labeler.formats.records import (
    BoxRecord,
    DatasetRecord,
    FormatError,
    ImageRecord,
    number,
    read_json,
)

FILE = "annotations.json"


def to_coco(
    records: DatasetRecord, *, detections: bool = False, description: str | None = None
) -> dict[str, Any]:
    """The COCO document of ``records``: ground truth (accepted boxes) by default.

    ``detections=True`` makes a detection result instead (``scripts/prelabel.py --format
    coco``): every proposal with its ``score``, no ``labeler_state`` nor ``segmentation``.
    """
    index = records.label_index()
    categories = [{"id": i + 1, "name": n, "supercategory": ""} for n, i in index.items()]
    images, annotations = [], []
    for n, image in enumerate(records.images, start=1):
        image_id = image.image_id if image.image_id is not None else n
        entry = {"id": image_id, "file_name": image.path, "width": image.width,
                 "height": image.height}  # fmt: skip
        if not detections:
            entry["labeler_state"] = image.state
        images.append(entry)
        for box in image.proposed if detections else image.accepted:
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": index[box.label] + 1,
                "bbox": [box.x, box.y, box.w, box.h],
                "area": box.w * box.h,
                "iscrowd": 0,
            }
            ann.update({"score": box.score} if detections else {"segmentation": []})
            annotations.append(ann)
    if description is None:
        description = f"Labeler dataset {records.name}"
    info = {"description": description, "version": "1.0"}
    return {"info": info, "images": images, "categories": categories, "annotations": annotations}


def render(records: DatasetRecord) -> dict[str, str]:
    return {FILE: json.dumps(to_coco(records), indent=1, ensure_ascii=False) + "\n"}


def export(records: DatasetRecord, out_dir: str | os.PathLike, **opts: Any) -> list[Path]:
    """Write ``annotations.json`` into ``out_dir``."""
    return write_files(out_dir, render(records))


def _list(doc: dict, key: str, file: Path) -> list:
    value = doc.get(key)
    if not isinstance(value, list):
        raise FormatError(file, key, "missing or not a list")
    return value


def _field(item: Any, key: str, file: Path, where: str) -> Any:
    if not isinstance(item, dict):
        raise FormatError(file, where, "not an object")
    if key not in item:
        raise FormatError(file, f"{where}.{key}", "missing")
    return item[key]


def parse(path: str | os.PathLike) -> DatasetRecord:
    """Read a COCO detection JSON file (or a folder holding ``annotations.json``)."""
    path = Path(path)
    file = path / FILE if path.is_dir() else path
    doc = read_json(file)
    if not isinstance(doc, dict):
        raise FormatError(file, "", "expected an object with images, categories, annotations")
    categories = {}
    for i, cat in enumerate(_list(doc, "categories", file)):
        name = _field(cat, "name", file, f"categories[{i}]")
        categories[_field(cat, "id", file, f"categories[{i}]")] = str(name)
    images: dict[Any, dict] = {}
    for i, img in enumerate(_list(doc, "images", file)):
        where = f"images[{i}]"
        fname = _field(img, "file_name", file, where)
        if not isinstance(fname, str) or not fname:
            raise FormatError(file, f"{where}.file_name", "not a file name")
        size = [
            number(_field(img, k, file, where), file, f"{where}.{k}") for k in ("width", "height")
        ]
        images[_field(img, "id", file, where)] = {
            "path": fname,
            "size": size,
            "state": img.get("labeler_state"),
        }
    boxes = defaultdict(list)
    for i, ann in enumerate(_list(doc, "annotations", file)):
        where = f"annotations[{i}]"
        image_id = _field(ann, "image_id", file, where)
        if image_id not in images:
            raise FormatError(file, f"{where}.image_id", f"no image with id {image_id!r}")
        cat = _field(ann, "category_id", file, where)
        if cat not in categories:
            raise FormatError(file, f"{where}.category_id", f"no category with id {cat!r}")
        bbox = _field(ann, "bbox", file, where)
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise FormatError(file, f"{where}.bbox", f"expected [x, y, w, h], got {bbox!r}")
        x, y, w, h = (number(v, file, f"{where}.bbox[{k}]") for k, v in enumerate(bbox))
        boxes[image_id].append(BoxRecord(categories[cat], x, y, w, h))
    out = tuple(
        ImageRecord(img["path"], int(img["size"][0]), int(img["size"][1]), img["state"],
                    tuple(boxes[image_id]))
        for image_id, img in images.items()
    )  # fmt: skip
    return DatasetRecord(file.stem, tuple(dict.fromkeys(categories.values())), out)
