"""Counts for ``/metrics`` and ``/healthz``: proposals by label and outcome, jobs and images
by state, and whether the database answers at the newest schema."""

from __future__ import annotations

from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from labeler.store.db import alembic_config
from labeler.store.models import Box, Dataset, Image, Job, LabelClass


@dataclass(frozen=True)
class Schema:
    current: tuple[str, ...]
    head: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.head)


def schema(engine: Engine) -> Schema:
    """The database's Alembic revision(s) and the code's; raises if the database is down."""
    url = engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        current = MigrationContext.configure(conn).get_current_heads()
    return Schema(current=tuple(current), head=tuple(head))


def proposal_counts(session: Session) -> list[tuple[str, str, str, int]]:
    """``(dataset, label, status, n)`` of the boxes a matcher or an import proposed."""
    stmt = (
        select(Dataset.name, LabelClass.name, Box.status, func.count(Box.id))
        .join(LabelClass, Box.label_id == LabelClass.id)
        .join(Dataset, LabelClass.dataset_id == Dataset.id)
        .where(Box.source != "user")
        .group_by(Dataset.name, LabelClass.name, Box.status)
    )
    return [tuple(row) for row in session.execute(stmt)]


def job_counts(session: Session) -> list[tuple[str, str, int]]:
    """``(kind, status, n)`` of the jobs."""
    stmt = select(Job.kind, Job.status, func.count(Job.id)).group_by(Job.kind, Job.status)
    return [tuple(row) for row in session.execute(stmt)]


def image_counts(session: Session) -> list[tuple[str, str, int]]:
    """``(dataset, state, n)`` of the images."""
    stmt = (
        select(Dataset.name, Image.state, func.count(Image.id))
        .join(Dataset, Image.dataset_id == Dataset.id)
        .group_by(Dataset.name, Image.state)
    )
    return [tuple(row) for row in session.execute(stmt)]
