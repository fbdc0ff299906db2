"""The store: SQLAlchemy models, engines/sessions/migrations and shared queries."""

from labeler.store.db import make_engine, migrate, session_factory, transaction
from labeler.store.models import (
    BOX_SOURCES,
    BOX_STATUSES,
    IMAGE_STATES,
    JOB_STATUSES,
    Base,
    Box,
    BoxStatus,
    Dataset,
    Image,
    ImageState,
    Job,
    LabelClass,
)

__all__ = [
    "BOX_SOURCES",
    "BOX_STATUSES",
    "IMAGE_STATES",
    "JOB_STATUSES",
    "Base",
    "Box",
    "BoxStatus",
    "Dataset",
    "Image",
    "ImageState",
    "Job",
    "LabelClass",
    "make_engine",
    "migrate",
    "session_factory",
    "transaction",
]
