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
from labeler.store.team import ROLES, Account, ApiToken, Assignment, ImageEvent, Role

__all__ = [
    "ROLES",
    "Account",
    "ApiToken",
    "Assignment",
    "ImageEvent",
    "Role",
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
