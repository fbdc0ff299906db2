"""teams: accounts, API tokens, assignments, image events, box.decided_by, state approved

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:50:00

- account: name, role (annotator / reviewer / admin), argon2id password hash.
- api_token: SHA-256 of each bearer token (the token itself is shown once, never stored).
- image_assignment: one assignee per image; ix_assignment_account serves "my next image".
- image_event: done / empty / approved / sent_back steps (with the send-back comment).
- box.decided_by: who last accepted or rejected the box.
- image.state may be "approved" (the CHECK constraint is rebuilt; SQLite copies the table).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_STATES = "state IN ('new', 'in_progress', 'done', 'empty')"
NEW_STATES = "state IN ('new', 'in_progress', 'done', 'empty', 'approved')"


def _set_states(check: str) -> None:
    with op.batch_alter_table("image", recreate="auto") as batch:
        batch.drop_constraint("image_state", type_="check")
        batch.create_check_constraint("image_state", check)


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('annotator', 'reviewer', 'admin')", name="account_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_table(
        "image_assignment",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id"),
    )
    op.create_index("ix_assignment_account", "image_assignment", ["account_id", "image_id"])
    op.create_table(
        "image_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("image_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('done', 'empty', 'approved', 'sent_back')", name="image_event_kind"
        ),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_image_event_image", "image_event", ["image_id", "id"])
    op.create_index("ix_image_event_actor", "image_event", ["actor", "kind"])
    with op.batch_alter_table("box") as batch:
        batch.add_column(sa.Column("decided_by", sa.String(length=200), nullable=True))
    _set_states(NEW_STATES)


def downgrade() -> None:
    op.execute("UPDATE image SET state = 'done' WHERE state = 'approved'")
    _set_states(OLD_STATES)
    with op.batch_alter_table("box") as batch:
        batch.drop_column("decided_by")
    op.drop_table("image_event")
    op.drop_table("image_assignment")
    op.drop_table("api_token")
    op.drop_table("account")
