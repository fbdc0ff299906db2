"""SQLAlchemy 2.x models: the one schema every part of Labeler reads and writes.

Portable SQL only (SQLite by default, PostgreSQL by config): string enums
checked in Python rather than database ENUM types, JSON columns, no
dialect-specific functions. Every box and image carries who/when and a
``version`` used for optimistic concurrency (SQLAlchemy's ``version_id_col``
makes a stale UPDATE raise ``StaleDataError`` instead of silently winning).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship

# "approved" (a reviewer checked a done or empty image): migration 0005, issue 12.
from labeler.states import FINISHED_STATES, IMAGE_STATES, ImageState  # noqa: F401 - re-exported

BOX_STATUSES = ("proposed", "accepted", "rejected")
BoxStatus = Literal["proposed", "accepted", "rejected"]
BOX_SOURCES = ("user", "matcher", "import")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Dataset(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    labels: Mapped[list[LabelClass]] = relationship(
        back_populates="dataset",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="LabelClass.id",
    )
    # Write-only: a dataset may hold 100,000 images; never load them all by accident.
    images: WriteOnlyMapped[Image] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def images_dir(self) -> str:
        """Workspace-relative POSIX path of the dataset's image folder."""
        return f"datasets/{self.name}/images"


class LabelClass(Base):
    __tablename__ = "label_class"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name"),
        CheckConstraint("hotkey IS NULL OR (hotkey >= 1 AND hotkey <= 9)", name="hotkey_1_9"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    colour: Mapped[str] = mapped_column(String(16), default="#e6194b")  # CSS hex colour
    hotkey: Mapped[int | None] = mapped_column(Integer, default=None)

    dataset: Mapped[Dataset] = relationship(back_populates="labels")


class Image(Base):
    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("dataset_id", "path"),
        Index("ix_image_dataset_state", "dataset_id", "state"),
        Index("ix_image_sha256", "dataset_id", "sha256"),
        Index("ix_image_dataset_id", "dataset_id", "id"),  # keyset pages (migration 0002)
        CheckConstraint(_in("state", IMAGE_STATES), name="image_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    # POSIX path relative to the workspace root, e.g. "datasets/cells/images/a/1.jpg".
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)  # as displayed (EXIF orientation applied)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))  # "png", "jpeg", "tiff", "bmp", "webp"
    state: Mapped[str] = mapped_column(String(16), default="new")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    updated_by: Mapped[str | None] = mapped_column(String(200), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)

    dataset: Mapped[Dataset] = relationship(back_populates="images")
    boxes: Mapped[list[Box]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="Box.id"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def rel_path(self) -> str:
        """Path relative to the dataset's ``images/`` folder (what the API shows)."""
        prefix = f"datasets/{self.dataset.name}/images/"
        return self.path[len(prefix) :] if self.path.startswith(prefix) else self.path


class Box(Base):
    """One bounding box, in pixels of the displayed image: ``(x, y)`` top-left, ``w``, ``h``."""

    __tablename__ = "box"
    __table_args__ = (
        Index("ix_box_image_status", "image_id", "status"),
        Index("ix_box_label", "label_id"),
        # migration 0002: the label filter and undecided-proposal counts of the web UI
        # (+ geometry, migration 0003: near-duplicate checks read only the index)
        Index("ix_box_image_label", "image_id", "label_id", "status", "x", "y", "w", "h"),
        Index("ix_box_status_image", "status", "image_id"),
        CheckConstraint(_in("status", BOX_STATUSES), name="box_status"),
        CheckConstraint(_in("source", BOX_SOURCES), name="box_source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    # NO ACTION (not RESTRICT): deleting a label in use fails, but deleting a whole
    # dataset may cascade to its labels and boxes in one statement.
    label_id: Mapped[int] = mapped_column(ForeignKey("label_class.id"))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    source: Mapped[str] = mapped_column(String(16), default="user")
    score: Mapped[float | None] = mapped_column(Float, default=None)
    # The matcher's parameters (or an import's model_version) behind a proposal.
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), default=None
    )
    is_exemplar: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    updated_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # Who last accepted or rejected it (migration 0005); None while it is only proposed.
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)

    image: Mapped[Image] = relationship(back_populates="boxes")
    label: Mapped[LabelClass] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


class Job(Base):
    """A long-running task (prelabel, propagate, version): progress is ``done`` of ``total``."""

    __tablename__ = "job"
    __table_args__ = (CheckConstraint(_in("status", JOB_STATUSES), name="job_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), default=None
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)


# --- learning from decisions (migration 0004) ---

CANDIDATE_OUTCOMES = ("accepted", "useful", "rejected")


class Candidate(Base):
    """One matcher candidate of one image and label, shown to the annotator or not.

    ``features`` is its row of :data:`labeler.ranking.RANK_FEATURES` under
    ``matcher_version``. ``outcome`` is ``None`` until the image is done, then what the
    annotator's final boxes make of it (:mod:`labeler.prelabel.learning`): the training
    rows of the label's re-rankers.
    """

    __tablename__ = "candidate"
    __table_args__ = (
        # refits read the newest labelled rows of one label per outcome
        Index("ix_candidate_label_outcome", "label_id", "outcome", "id"),
        Index("ix_candidate_image_label", "image_id", "label_id"),
        # deleting a box sets box_id NULL here: without it every delete scans the table
        Index("ix_candidate_box", "box_id"),
        CheckConstraint(
            "outcome IS NULL OR " + _in("outcome", CANDIDATE_OUTCOMES), name="candidate_outcome"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    label_id: Mapped[int] = mapped_column(ForeignKey("label_class.id", ondelete="CASCADE"))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    features: Mapped[list[float]] = mapped_column(JSON)
    matcher_version: Mapped[str] = mapped_column(String(64))
    shown: Mapped[bool] = mapped_column(Boolean, default=False)
    box_id: Mapped[int | None] = mapped_column(
        ForeignKey("box.id", ondelete="SET NULL"), default=None
    )
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


class RankerState(Base):
    """The fitted re-rankers of one label: ``state`` is ``{"accepted": Ranker.to_dict(),
    "useful": Ranker.to_dict()}``, fitted on ``n_examples`` candidate rows."""

    __tablename__ = "ranker_state"
    __table_args__ = (UniqueConstraint("dataset_id", "label_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    label_id: Mapped[int] = mapped_column(ForeignKey("label_class.id", ondelete="CASCADE"))
    matcher_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_examples: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class OpeningRun(Base):
    """An image was given its opening proposals (from the labels' exemplar banks) under
    ``matcher_version``: opening it again does not match it again."""

    __tablename__ = "opening_run"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True
    )
    matcher_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
