"""Label Studio JSON tasks and labeling config.

Export writes ``tasks.json`` (one task per image) and ``label_config.xml``:

- ``data.image`` is ``image_prefix`` + the path relative to ``images/``
  (URL-quoted when the prefix is a URL). The default prefix,
  ``/data/local-files/?d=datasets/NAME/images/``, works with a Label Studio
  started with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
  ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` = the workspace root (see
  ``docs/labelstudio.md``). ``data`` also carries ``labeler_image_id``,
  ``labeler_path`` and ``labeler_state`` so an import or a second push finds
  the image again without guessing.
- One annotation holding every accepted box when the image is ``done`` or
  ``empty`` or has accepted boxes (a confirmed-empty image gets an annotation
  with an empty ``result``: other tools drop such images, we must not);
  images not yet labelled get ``annotations: []``.
- One prediction per ``model_version`` holding the undecided proposals, each
  result with its ``score``; the prediction's score is their mean.
- Boxes are ``rectanglelabels`` results in percent of ``original_width`` /
  ``original_height``.

Each ``<Label>`` carries ``category="i"`` (its 0-based class index), so Label
Studio's own converter numbers classes as our COCO/YOLO exporters do.

Parse accepts Label Studio's JSON export (a list of tasks, one task, or
``{"tasks": [...]}``). Of several annotations on a task the newest one that
was not cancelled is used (as Label Studio's converter does). Results of other
types (choices, polygons...) are ignored; rotated rectangles are refused.
Label Studio's quick JSON export lists predictions by id only: those are
skipped and reported in ``notes`` (a snapshot export with full predictions
keeps them).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import quoteattr

from labeler.formats._files import write_files
from labeler.formats.labelstudio_result import FROM_NAME, TO_NAME, ls_rect_result
from labeler.formats.records import (
    BoxRecord,
    DatasetRecord,
    FormatError,
    ImageRecord,
    number,
    read_json,
)
from labeler.states import FINISHED_STATES

TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
UPLOAD_PREFIX_LEN = 9  # Label Studio's upload adds 8 hex chars and a dash to file names


def default_prefix(dataset: str) -> str:
    return f"/data/local-files/?d=datasets/{dataset}/images/"


def label_config(labels: tuple[str, ...], colours: dict[str, str] | None = None) -> str:
    """The labeling config XML for ``labels``; names are XML-escaped."""
    colours = colours or {}
    lines = [
        "<View>",
        f'  <Image name="{TO_NAME}" value="$image"/>',
        f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">',
    ]
    for i, name in enumerate(labels):
        colour = colours.get(name, "#e6194b")
        lines.append(
            f'    <Label value={quoteattr(name)} background={quoteattr(colour)} category="{i}"/>'
        )
    lines += ["  </RectangleLabels>", "</View>", ""]
    return "\n".join(lines)


def rect_result(box: BoxRecord, width: int, height: int, *, id: str) -> dict[str, Any]:
    """A ``rectanglelabels`` result: pixel box -> percent of the original size."""
    return ls_rect_result(
        (box.x, box.y, box.w, box.h), box.label, width, height, score=box.score, id=id
    )


def image_ref(prefix: str, rel_path: str) -> str:
    is_url = "?" in prefix or "://" in prefix
    return prefix + (quote(rel_path, safe="/") if is_url else rel_path)


def task_for(image: ImageRecord, *, image_prefix: str) -> dict[str, Any]:
    """One Label Studio task for ``image`` (annotations and predictions as described above)."""
    data: dict[str, Any] = {
        "image": image_ref(image_prefix, image.path),
        "labeler_path": image.path,
        "labeler_state": image.state,
    }
    if image.image_id is not None:
        data["labeler_image_id"] = image.image_id
    task: dict[str, Any] = {"data": data, "annotations": [], "predictions": []}
    accepted = image.accepted
    if accepted or image.state in FINISHED_STATES:
        results = [
            rect_result(b, image.width, image.height, id=f"a{i}") for i, b in enumerate(accepted)
        ]
        task["annotations"].append({"result": results, "was_cancelled": False})
    by_version: dict[str, list[BoxRecord]] = defaultdict(list)
    for box in image.proposed:
        by_version[box.model_version or "labeler"].append(box)
    for version, boxes in by_version.items():
        results = [
            rect_result(b, image.width, image.height, id=f"p{i}") for i, b in enumerate(boxes)
        ]
        scores = [b.score for b in boxes if b.score is not None]
        prediction = {"model_version": version, "result": results}
        if scores:
            prediction["score"] = sum(scores) / len(scores)
        task["predictions"].append(prediction)
    return task


def to_tasks(records: DatasetRecord, *, image_prefix: str | None = None) -> list[dict[str, Any]]:
    prefix = default_prefix(records.name) if image_prefix is None else image_prefix
    tasks = []
    for n, image in enumerate(records.images, start=1):
        task = task_for(image, image_prefix=prefix)
        # The converter needs an id; the store id keeps it stable between exports.
        task = {"id": image.image_id if image.image_id is not None else n, **task}
        tasks.append(task)
    return tasks


def render(records: DatasetRecord, *, image_prefix: str | None = None) -> dict[str, str]:
    tasks = to_tasks(records, image_prefix=image_prefix)
    return {
        TASKS_FILE: json.dumps(tasks, indent=1, ensure_ascii=False) + "\n",
        CONFIG_FILE: label_config(records.labels, dict(records.colours)),
    }


def export(records: DatasetRecord, out_dir: str | os.PathLike, **opts: Any) -> list[Path]:
    """Write ``tasks.json`` and ``label_config.xml`` into ``out_dir``."""
    return write_files(out_dir, render(records, image_prefix=opts.get("image_prefix")))


def reduce_ref(ref: str) -> str:
    """A task's image reference as a path: ``/data/local-files/?d=a/b.jpg`` -> ``a/b.jpg``.

    URLs lose scheme, host and query (except local files' ``d``); the caller
    matches the result by relative path, then by file name.
    """
    parts = urlsplit(ref)
    if parts.query and "d" in parse_qs(parts.query):
        return unquote(parse_qs(parts.query)["d"][0]).lstrip("/")
    if parts.scheme in ("http", "https", "s3", "gs", "azure-blob") or ref.startswith("/data/"):
        return unquote(parts.path).lstrip("/")
    return ref


def strip_upload_prefix(name: str) -> str | None:
    """``ab12cd34-name.jpg`` (Label Studio's upload renaming) -> ``name.jpg``, else None."""
    head = name[: UPLOAD_PREFIX_LEN - 1]
    if (
        len(name) > UPLOAD_PREFIX_LEN
        and name[8] == "-"
        and all(c in "0123456789abcdef" for c in head)
    ):
        return name[UPLOAD_PREFIX_LEN:]
    return None


def _load(path: Path) -> tuple[Path, list[Any]]:
    file = path / TASKS_FILE if path.is_dir() else path
    doc = read_json(file)
    if isinstance(doc, dict):
        doc = doc["tasks"] if isinstance(doc.get("tasks"), list) else [doc]
    if not isinstance(doc, list):
        raise FormatError(file, "", "expected a list of tasks")
    return file, doc


def _boxes(results: Any, file: Path, where: str, status: str, version: str | None) -> tuple:
    if not isinstance(results, list):
        raise FormatError(file, where, "expected a list of results")
    boxes, size = [], None
    for j, r in enumerate(results):
        w = f"{where}[{j}]"
        if not isinstance(r, dict) or r.get("type", "rectanglelabels") not in (
            "rectanglelabels",
            "rectangle",
        ):
            continue
        value = r.get("value")
        if not isinstance(value, dict):
            raise FormatError(file, f"{w}.value", "missing or not an object")
        labels = value.get("rectanglelabels") or value.get("labels")
        if not isinstance(labels, list) or not labels or not isinstance(labels[0], str):
            raise FormatError(file, f"{w}.value.rectanglelabels", "missing label name")
        for key in ("original_width", "original_height"):
            if key not in r:
                raise FormatError(file, f"{w}.{key}", "missing (needed to convert percent)")
        ow, oh = (
            number(r["original_width"], file, f"{w}.original_width"),
            number(r["original_height"], file, f"{w}.original_height"),
        )
        if ow <= 0 or oh <= 0:
            raise FormatError(file, f"{w}.original_width", f"bad image size {ow}x{oh}")
        size = (int(ow), int(oh))
        x, y, bw, bh = (number(value.get(k), file, f"{w}.value.{k}") for k in _XYWH)
        if abs(number(value.get("rotation", 0), file, f"{w}.value.rotation")) > 1e-9:
            raise FormatError(file, f"{w}.value.rotation", "rotated boxes are not supported")
        score = r.get("score")
        score = None if score is None else number(score, file, f"{w}.score")
        px = (x * ow / 100, y * oh / 100, bw * ow / 100, bh * oh / 100)
        boxes.append(BoxRecord(labels[0], *px, status, score, version))
    return boxes, size


_XYWH = ("x", "y", "width", "height")


def _newest(annotations: list[Any]) -> dict | None:
    live = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    live = [a for a in live if not a.get("skipped")]
    if not live:
        return None
    return max(enumerate(live), key=lambda ia: (str(ia[1].get("created_at", "")), ia[0]))[1]


def parse(path: str | os.PathLike) -> DatasetRecord:
    """Read a Label Studio JSON export (file, or a folder holding ``tasks.json``)."""
    file, tasks = _load(Path(path))
    images, labels, id_only = [], {}, 0
    for i, task in enumerate(tasks):
        where = f"task {i}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise FormatError(file, f"{where}.data", "missing or not an object")
        data = task["data"]
        ref = data.get("labeler_path") or data.get("image")
        if not isinstance(ref, str) or not ref:
            raise FormatError(file, f"{where}.data.image", "missing image reference")
        if "labeler_path" not in data:
            ref = reduce_ref(ref)
        state, boxes, size = data.get("labeler_state"), [], None
        annotations = task.get("annotations", task.get("completions", []))
        if not isinstance(annotations, list):
            raise FormatError(file, f"{where}.annotations", "expected a list")
        chosen = _newest(annotations)
        if chosen is not None:
            k = annotations.index(chosen)
            w = f"{where}.annotations[{k}].result"
            got, size = _boxes(chosen.get("result", []), file, w, "accepted", None)
            boxes += got
            state = state or ("done" if got else "empty")
        predictions = task.get("predictions", [])
        if not isinstance(predictions, list):
            raise FormatError(file, f"{where}.predictions", "expected a list")
        for k, pred in enumerate(predictions):
            if isinstance(pred, int) and not isinstance(pred, bool):
                id_only += 1  # Label Studio's quick export lists predictions by id only
                continue
            if not isinstance(pred, dict):
                raise FormatError(file, f"{where}.predictions[{k}]", "not an object")
            version = pred.get("model_version")
            version = None if version is None else str(version)
            w = f"{where}.predictions[{k}].result"
            got, psize = _boxes(pred.get("result", []), file, w, "proposed", version)
            boxes += got
            size = size or psize
        for b in boxes:
            labels.setdefault(b.label, None)
        width, height = size or (0, 0)  # 0 = unknown: the importer uses the store's size
        images.append(ImageRecord(ref, width, height, state, tuple(boxes)))
    notes = ()
    if id_only:
        notes = (
            f"{file}: {id_only} predictions are listed by id only (Label Studio's quick export)"
            " and were not imported; export a snapshot with full predictions to keep them",
        )
    return DatasetRecord(file.stem, tuple(labels), tuple(images), notes=notes)
