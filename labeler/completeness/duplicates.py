"""Duplicates for ``labeler check``: images with the same bytes, boxes on top of each other.

Both are SQL (SQLAlchemy Core, portable): a GROUP BY on the image hash, and a
self-join of boxes on (image, label) through the ``ix_box_image_label`` index.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, case, func, literal, select

from labeler.completeness.sql import (
    BOX,
    IMAGE,
    LABEL,
    NEAR_DUPLICATE_IOU,
    Row,
)
from labeler.store.models import BOX_STATUSES


def _least(a, b):
    return case((a < b, a), else_=b)


def _greatest(a, b):
    return case((a > b, a), else_=b)


# Live statuses as an IN list, not "!= rejected": the index seeks each one
LIVE = tuple(s for s in BOX_STATUSES if s != "rejected")


def _x_reach(a, c, threshold: float) -> tuple:
    """Bounds on ``c.x`` for ``IoU(a, c) > threshold`` (none when the threshold is 0)."""
    if not threshold > 0:
        return ()
    below, above = (1 - threshold) / threshold, 1 - threshold
    return (c.c.x >= a.c.x - literal(below) * a.c.w, c.c.x <= a.c.x + literal(above) * a.c.w)


def duplicate_images(conn: Connection, dataset_id: int, limit: int | None) -> tuple[int, list[Row]]:
    """Images whose sha256 is shared with another image of the dataset."""
    i = IMAGE.c
    dup = (
        select(i.sha256, func.count().label("n"))
        .where(i.dataset_id == dataset_id)
        .group_by(i.sha256)
        .having(func.count() > 1)
    ).subquery()
    count = conn.scalar(select(func.coalesce(func.sum(dup.c.n), 0)))
    if not count:
        return 0, []
    stmt = (
        select(i.id, i.path, i.sha256, dup.c.n)
        .join(dup, dup.c.sha256 == i.sha256)
        .where(i.dataset_id == dataset_id)
        .order_by(i.sha256, i.path)
        .limit(limit)
    )
    rows = [
        Row(image_id=r.id, path=r.path, detail=f"sha256 {r.sha256[:12]}... shared by {r.n} images")
        for r in conn.execute(stmt)
    ]
    return int(count), rows


def near_duplicates(
    conn: Connection, dataset_id: int, threshold: float = NEAR_DUPLICATE_IOU
) -> list[Row]:
    """Pairs of live boxes on one image with the same label and IoU > ``threshold``.

    A self-join on (image, label) through the ``ix_box_image_label`` index, restricted
    to overlapping pairs, each pair once (``a.id < c.id``). IoU > t is tested without
    dividing: ``inter * (1 + t) > t * (area_a + area_c)``. Items name the pair's lower
    box id.
    """
    a, c = BOX.alias("a"), BOX.alias("c")
    inter_w = _least(a.c.x + a.c.w, c.c.x + c.c.w) - _greatest(a.c.x, c.c.x)
    inter_h = _least(a.c.y + a.c.h, c.c.y + c.c.h) - _greatest(a.c.y, c.c.y)
    area_a, area_c = a.c.w * a.c.h, c.c.w * c.c.h
    inter = inter_w * inter_h
    t = literal(threshold)
    # IoU > t needs the intersection wider than t times either width, so c's left edge lies
    # within [a.x - (1-t)/t a.w, a.x + (1-t) a.w]: a range seek on the index's x column
    # (after the equalities on image, label and status) finds the few boxes near each box
    # instead of every box of its image and label (quadratic on a crowded image).
    reach = _x_reach(a, c, threshold)
    stmt = (
        select(a.c.id, c.c.id.label("other"), a.c.image_id, IMAGE.c.path, LABEL.c.name,
               (inter / (area_a + area_c - inter)).label("iou"))
        .select_from(
            IMAGE.join(a, a.c.image_id == IMAGE.c.id)
            # "+ 0" on the ids: a rowid range would lure SQLite (no statistics) onto the
            # label index, i.e. every box of the label for every box, instead of ~3 rows.
            .join(c, and_(c.c.image_id == a.c.image_id, c.c.label_id == a.c.label_id,
                          c.c.id + 0 > a.c.id + 0))
            .outerjoin(LABEL, LABEL.c.id == a.c.label_id)
        )
        .where(
            IMAGE.c.dataset_id == dataset_id,
            a.c.status.in_(LIVE),
            c.c.status.in_(LIVE),
            *reach,
            a.c.x < c.c.x + c.c.w,
            c.c.x < a.c.x + a.c.w,
            a.c.y < c.c.y + c.c.h,
            c.c.y < a.c.y + a.c.h,
            inter * (1 + threshold) > t * (area_a + area_c),
        )
        .order_by(IMAGE.c.path, a.c.id, c.c.id)
        # SQLite only (other dialects drop the hint): with the covering (image, label,
        # status) index for "a" too, a box whose image holds no later live box of its
        # label is rejected from index entries alone, never reading its table row.
        .with_hint(a, "INDEXED BY ix_box_image_label", "sqlite")
    )  # fmt: skip
    return [
        Row(r.image_id, r.path, r.id, r.name, f"IoU {r.iou:.3f} with box {r.other}")
        for r in conn.execute(stmt)
    ]
