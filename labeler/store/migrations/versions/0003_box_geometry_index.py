"""box geometry in the (image, label, status) index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 16:30:00

``labeler check`` looks for near-duplicate boxes with a self-join of ``box`` on (image,
label) and a coordinate overlap test. With x, y, w, h in ``ix_box_image_label`` both sides of
the join are answered from the index alone, without reading a table row per candidate box.
The column prefix (image_id, label_id, status) is unchanged, so the web UI's label filter
keeps using it.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD = ["image_id", "label_id", "status"]
NEW = [*OLD, "x", "y", "w", "h"]


def upgrade() -> None:
    op.drop_index("ix_box_image_label", table_name="box")
    op.create_index("ix_box_image_label", "box", NEW)


def downgrade() -> None:
    op.drop_index("ix_box_image_label", table_name="box")
    op.create_index("ix_box_image_label", "box", OLD)
