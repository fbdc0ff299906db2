"""Ingestion: turn a folder or archive of images into a dataset (``labeler ingest``).

Public API::

    ingest(ws, src, *, dataset, labels=(), workers=None, progress=True) -> IngestReport
    load_boxes_csv(ws, csv_path, *, dataset, status="accepted", limit_images=None) -> int
    load_demo_boxes(ws, dataset="demo", *, status="accepted", limit_images=None) -> int

Names are imported on first use (PEP 562): pool workers import only
:mod:`labeler.ingest.check`, and must not pay for SQLAlchemy and Alembic on start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Kept on purpose (not scaffolding): every area has landed, but the lazy names keep
# worker start-up and `labeler` CLI start-up free of SQLAlchemy, Alembic and the store.
_EXPORTS = {
    "IngestReport": "labeler.ingest.report",
    "check_dataset_name": "labeler.ingest.core",
    "ingest": "labeler.ingest.core",
    "DEMO_DIR": "labeler.ingest.demo",
    "load_boxes_csv": "labeler.ingest.demo",
    "load_demo_boxes": "labeler.ingest.demo",
    "SourceError": "labeler.ingest.sources",
    "UnsafeName": "labeler.ingest.sources",
    "safe_relpath": "labeler.ingest.sources",
}
__all__ = [
    "DEMO_DIR",
    "IngestReport",
    "SourceError",
    "UnsafeName",
    "check_dataset_name",
    "ingest",
    "load_boxes_csv",
    "load_demo_boxes",
    "safe_relpath",
]

if TYPE_CHECKING:
    from labeler.ingest.core import check_dataset_name, ingest
    from labeler.ingest.demo import DEMO_DIR, load_boxes_csv, load_demo_boxes
    from labeler.ingest.report import IngestReport
    from labeler.ingest.sources import SourceError, UnsafeName, safe_relpath


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
