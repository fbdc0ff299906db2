"""Ingestion: turn a folder or archive of images into a dataset (``labeler ingest``).

Public API::

    ingest(ws, src, *, dataset, labels=(), workers=None, progress=True) -> IngestReport
    load_boxes_csv(ws, csv_path, *, dataset, status="accepted", limit_images=None) -> int
    load_demo_boxes(ws, dataset="demo", *, status="accepted", limit_images=None) -> int
"""

from labeler.ingest.core import IngestReport, check_dataset_name, ingest
from labeler.ingest.demo import DEMO_DIR, load_boxes_csv, load_demo_boxes
from labeler.ingest.sources import SourceError, UnsafeName, safe_relpath

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
