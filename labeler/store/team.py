"""Team models (migration 0005): accounts, API tokens, image assignments and image events.

Boxes and images keep recording people by name (``created_by``, ``decided_by``,
``updated_by``), as they did before accounts existed: removing an account keeps the
history readable, and a single-user workspace's names need no account row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labeler.store.models import Base, _in, utcnow

ROLES = ("annotator", "reviewer", "admin")  # each may do what the one before it may
Role = Literal["annotator", "reviewer", "admin"]
EVENT_KINDS = ("done", "empty", "approved", "sent_back")
EventKind = Literal["done", "empty", "approved", "sent_back"]


class Account(Base):
    """A person who logs in (password, argon2id hash) or calls the API (tokens)."""

    __tablename__ = "account"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="account_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token of one account: only its SHA-256 is stored (the token is shown once)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    # The token is 256 random bits: a fast hash is enough (no dictionary to guess from),
    # and it lets a request find its token by an indexed equality lookup.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown by `token list` to tell them apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Assignment(Base):
    """Image ``image_id`` is ``account_id``'s to label (one assignee per image)."""

    __tablename__ = "image_assignment"
    __table_args__ = (Index("ix_assignment_account", "account_id", "image_id"),)

    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    assigned_by: Mapped[str | None] = mapped_column(String(200), default=None)


class ImageEvent(Base):
    """A finishing or review step of an image: ``done``/``empty`` by ``actor``, then
    ``approved`` or ``sent_back`` (with ``comment``) by a reviewer. ``subject`` is who the
    review judged (the last to finish the image): the Team page's approval rates."""

    __tablename__ = "image_event"
    __table_args__ = (
        Index("ix_image_event_image", "image_id", "id"),
        Index("ix_image_event_actor", "actor", "kind"),
        CheckConstraint(_in("kind", EVENT_KINDS), name="image_event_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    image_version: Mapped[int] = mapped_column(Integer, default=1)
