"""The store: SQLAlchemy models, engines/sessions/migrations and shared queries."""

from labeler.store.db import make_engine, migrate, session_factory, transaction
from labeler.store.models import (
    BOX_SOURCES,
    BOX_STATUSES,
    IMAGE_STATES,
    JOB_STATUSES,
    Base,
    Box,
    Dataset,
    Image,
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
    "Dataset",
    "Image",
    "Job",
    "LabelClass",
    "make_engine",
    "migrate",
    "session_factory",
    "transaction",
]
