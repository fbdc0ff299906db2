"""Helpers for tests (import as ``from helpers import ...``; pytest puts tests/ on sys.path)."""

from labeler.ingest import load_boxes_csv, load_demo_boxes

__all__ = ["load_boxes_csv", "load_demo_boxes"]
