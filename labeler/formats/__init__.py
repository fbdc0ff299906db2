"""Export and import formats: one module per format, each a pair of pure functions.

``FORMATS[name].export(records, out_dir, **opts) -> list[Path]`` writes a
:class:`~labeler.formats.records.DatasetRecord` (atomically, see ``_files``);
``FORMATS[name].parse(path) -> DatasetRecord`` reads one back, raising
:class:`~labeler.formats.records.FormatError` naming the file and field.
Store access lives only in :func:`~labeler.formats.records.load_records` and
:mod:`labeler.exchange.imports`.

Which images an export holds: every image of the dataset by default, each with
the accepted boxes it has so far (and, in Label Studio JSON, its undecided
proposals as predictions); ``load_records(..., done_only=True)`` (``labeler
export --done-only``) keeps only images marked ``done`` or ``empty``, which is
what a training set should use, since in COCO/YOLO/VOC an unfinished image
with no boxes looks like a confirmed-empty one. Confirmed-empty images are in
every format; rejected boxes in none.
"""

from __future__ import annotations

from types import ModuleType

from labeler.formats import coco, labelstudio, voc, yolo
from labeler.formats.records import (
    BoxRecord,
    DatasetRecord,
    FormatError,
    ImageRecord,
    load_records,
)

FORMATS: dict[str, ModuleType] = {
    "labelstudio": labelstudio,
    "coco": coco,
    "yolo": yolo,
    "voc": voc,
}

__all__ = [
    "FORMATS",
    "BoxRecord",
    "DatasetRecord",
    "FormatError",
    "ImageRecord",
    "load_records",
]
