"""candidates and re-ranker state: learning from the annotator's decisions (issue 10)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:30:00

- candidate: every matcher candidate of an image and label (shown or not) with its feature
  row; its outcome (accepted / useful / rejected) is set when the image is done, from the
  final accepted boxes. ix_candidate_label_outcome (label_id, outcome, id) answers a refit's
  "newest 4,000 labelled rows of this label" per outcome from the index;
  ix_candidate_image_label serves the per-image work (outcomes, the per-image cap, the
  cascade from image); ix_candidate_box the SET NULL when a box is deleted.
- ranker_state: the fitted re-rankers per (dataset, label), with the matcher version they
  were fitted under (another version falls back to the prior).
- opening_run: images that got their opening proposals from the labels' exemplar banks.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("h", sa.Float(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("matcher_version", sa.String(length=64), nullable=False),
        sa.Column("shown", sa.Boolean(), nullable=False),
        sa.Column("box_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('accepted', 'useful', 'rejected')",
            name="candidate_outcome",
        ),
        sa.ForeignKeyConstraint(["box_id"], ["box.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["label_id"], ["label_class.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_candidate_label_outcome", "candidate", ["label_id", "outcome", "id"])
    op.create_index("ix_candidate_image_label", "candidate", ["image_id", "label_id"])
    op.create_index("ix_candidate_box", "candidate", ["box_id"])
    op.create_table(
        "ranker_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("matcher_version", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["label_id"], ["label_class.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "label_id"),
    )
    op.create_table(
        "opening_run",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("matcher_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id"),
    )


def downgrade() -> None:
    op.drop_table("opening_run")
    op.drop_table("ranker_state")
    op.drop_index("ix_candidate_box", table_name="candidate")
    op.drop_index("ix_candidate_image_label", table_name="candidate")
    op.drop_index("ix_candidate_label_outcome", table_name="candidate")
    op.drop_table("candidate")
