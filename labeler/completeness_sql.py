"""The SQL behind ``labeler check``: every count is one aggregate query (SQLAlchemy Core).

Counting must stay fast at 100,000 images and 1,000,000 boxes, so nothing here
loads rows to count them in Python: counts come from ``COUNT``/``SUM(CASE ...)``
with ``GROUP BY``, and only the first ``limit`` items behind a count are fetched.
Only portable SQL is used (no ``min()``/``max()`` scalar functions, which
SQLite has and PostgreSQL spells ``LEAST``/``GREATEST``; ``CASE`` instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    literal,
    not_,
    or_,
    select,
)

from labeler.store.models import Box, Image, LabelClass

IMAGE = Image.__table__
BOX = Box.__table__
LABEL = LabelClass.__table__

EDGE_SLACK = 0.5  # same half-pixel slack as labeler.store.queries.validate_box
MIN_VALID_SIZE = 2.0  # below this a box is invalid, not merely tiny
NEAR_DUPLICATE_IOU = 0.9
HUGE = 1e308  # |value| >= HUGE is treated as infinite (SQLite stores inf as 9e999)


@dataclass(frozen=True)
class Row:
    """One item behind a count: an image, a box on an image, or a label."""

    image_id: int | None = None
    path: str | None = None
    box_id: int | None = None
    label: str | None = None
    detail: str | None = None


def _sum_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _least(a, b):
    return case((a < b, a), else_=b)


def _greatest(a, b):
    return case((a > b, a), else_=b)


def box_conditions(dataset_id: int, min_box_size: float) -> dict[str, ColumnElement[bool]]:
    """Per-box problem predicates over ``BOX`` joined to ``IMAGE``.

    Rejected boxes are never exported, so only proposed and accepted boxes count.
    """
    b, i = BOX.c, IMAGE.c
    live = b.status != "rejected"
    coords = (b.x, b.y, b.w, b.h)
    # NULL covers SQLite's NaN; PostgreSQL orders NaN above every number, so >= HUGE.
    nonfinite = or_(*(or_(c.is_(None), c >= HUGE, c <= -HUGE) for c in coords))
    finite = not_(nonfinite)
    outside = or_(
        b.x < -EDGE_SLACK,
        b.y < -EDGE_SLACK,
        b.x + b.w > i.width + EDGE_SLACK,
        b.y + b.h > i.height + EDGE_SLACK,
    )
    too_small = or_(b.w < MIN_VALID_SIZE, b.h < MIN_VALID_SIZE)
    tiny = and_(not_(too_small), or_(b.w < min_box_size, b.h < min_box_size))
    # An uncorrelated IN list is evaluated once; cheaper than joining every box to its label.
    foreign = b.label_id.not_in(select(LABEL.c.id).where(LABEL.c.dataset_id == dataset_id))
    return {
        "boxes_nonfinite": and_(live, nonfinite),
        "boxes_outside": and_(live, finite, outside),
        "boxes_too_small": and_(live, finite, too_small),
        "boxes_tiny": and_(live, finite, tiny),
        "boxes_foreign_label": and_(live, foreign),
    }


def _box_from():
    return BOX.join(IMAGE, BOX.c.image_id == IMAGE.c.id).outerjoin(
        LABEL, LABEL.c.id == BOX.c.label_id
    )


def _in_dataset(dataset_id: int) -> ColumnElement[bool]:
    # "+ 0" hides the dataset index from SQLite's planner: without statistics it would
    # walk images by dataset and seek each image's boxes, ~2x slower than one scan of
    # the box table when (as usual) one dataset holds most boxes. Still portable SQL.
    return IMAGE.c.dataset_id + 0 == dataset_id


def image_state_counts(conn: Connection, dataset_id: int) -> dict[str, int]:
    stmt = (
        select(IMAGE.c.state, func.count())
        .where(IMAGE.c.dataset_id == dataset_id)
        .group_by(IMAGE.c.state)
    )
    return {state: n for state, n in conn.execute(stmt)}


@dataclass(frozen=True)
class BoxCounts:
    totals: dict[str, int]  # total/accepted/proposed/rejected and one count per condition
    labels: dict[int, tuple[int, int, int]]  # label id -> (accepted, proposed, images)
    undecided_images: int


def box_counts(
    conn: Connection,
    dataset_id: int,
    conditions: dict[str, ColumnElement[bool]],
    label_ids: list[int],
) -> BoxCounts:
    """Every box count in one pass: per image (streamed in index order), then summed.

    Grouping by image first gives "images with a box of label L" and "images with
    proposals but no decision" without COUNT(DISTINCT), which costs SQLite a temporary
    B-tree per column. Only ``label_ids`` get per-label columns.
    """
    b = BOX.c
    accepted, proposed = b.status == "accepted", b.status == "proposed"
    per_image = {
        "total": func.count(),
        "accepted": _sum_if(accepted),
        "proposed": _sum_if(proposed),
        "rejected": _sum_if(b.status == "rejected"),
        **{key: _sum_if(cond) for key, cond in conditions.items()},
    }
    for n, label_id in enumerate(label_ids):
        is_label = b.label_id == label_id
        per_image[f"acc_{n}"] = _sum_if(and_(is_label, accepted))
        per_image[f"prop_{n}"] = _sum_if(and_(is_label, proposed))
        per_image[f"has_{n}"] = func.max(case((and_(is_label, accepted), 1), else_=0))
    inner = (
        select(*(col.label(key) for key, col in per_image.items()))
        .select_from(BOX.join(IMAGE, BOX.c.image_id == IMAGE.c.id))
        .where(_in_dataset(dataset_id))
        .group_by(b.image_id)
    ).subquery()
    undecided = and_(inner.c.proposed > 0, inner.c.accepted + inner.c.rejected == 0)
    outer = [func.coalesce(func.sum(col), 0).label(col.name) for col in inner.c]
    outer.append(_sum_if(undecided).label("undecided_images"))
    row = conn.execute(select(*outer)).one()._mapping
    totals = {key: int(row[key]) for key in ("total", "accepted", "proposed", "rejected")}
    totals.update({key: int(row[key]) for key in conditions})
    labels = {
        label_id: (int(row[f"acc_{n}"]), int(row[f"prop_{n}"]), int(row[f"has_{n}"]))
        for n, label_id in enumerate(label_ids)
    }
    return BoxCounts(totals, labels, int(row["undecided_images"]))


def box_rows(
    conn: Connection, dataset_id: int, cond: ColumnElement[bool], limit: int | None
) -> list[Row]:
    """The first ``limit`` boxes matching ``cond`` (ordered by image path, then box id)."""
    b = BOX.c
    stmt = (
        select(b.id, b.image_id, IMAGE.c.path, LABEL.c.name, b.x, b.y, b.w, b.h, b.score)
        .select_from(_box_from())
        .where(IMAGE.c.dataset_id == dataset_id, cond)
        .order_by(IMAGE.c.path, b.id)
        .limit(limit)
    )
    return [
        Row(
            image_id=r.image_id,
            path=r.path,
            box_id=r.id,
            label=r.name,
            detail=_describe_box(r.x, r.y, r.w, r.h, r.score),
        )
        for r in conn.execute(stmt)
    ]


def _describe_box(x, y, w, h, score) -> str:
    text = f"x={_num(x)} y={_num(y)} w={_num(w)} h={_num(h)}"
    return text if score is None else f"{text} score={score:.3f}"


def _num(v: Any) -> str:
    return "NaN" if v is None else f"{v:g}"


def image_rows(conn: Connection, where: Iterable[ColumnElement[bool]], limit: int | None):
    stmt = select(IMAGE.c.id, IMAGE.c.path).where(*where).order_by(IMAGE.c.path).limit(limit)
    return [Row(image_id=r.id, path=r.path) for r in conn.execute(stmt)]


def undecided_image_rows(conn: Connection, dataset_id: int, limit: int | None) -> list[Row]:
    """Images holding proposals of which not one box was accepted or rejected yet."""
    b = BOX.c
    sub = (
        select(b.image_id)
        .join(IMAGE, IMAGE.c.id == b.image_id)
        .where(IMAGE.c.dataset_id == dataset_id)
        .group_by(b.image_id)
        .having(
            and_(
                _sum_if(b.status == "proposed") > 0,
                _sum_if(b.status.in_(("accepted", "rejected"))) == 0,
            )
        )
    )
    return image_rows(conn, [IMAGE.c.id.in_(sub)], limit)


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
    dividing: ``inter * (1 + t) > t * (area_a + area_c)``; an area ratio above t is a
    cheap necessary condition tested first. Items name the pair's lower box id.
    """
    a, c = BOX.alias("a"), BOX.alias("c")
    inter_w = _least(a.c.x + a.c.w, c.c.x + c.c.w) - _greatest(a.c.x, c.c.x)
    inter_h = _least(a.c.y + a.c.h, c.c.y + c.c.h) - _greatest(a.c.y, c.c.y)
    area_a, area_c = a.c.w * a.c.h, c.c.w * c.c.h
    inter = inter_w * inter_h
    t = literal(threshold)
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
            a.c.status != "rejected",
            c.c.status != "rejected",
            a.c.x < c.c.x + c.c.w,
            c.c.x < a.c.x + a.c.w,
            a.c.y < c.c.y + c.c.h,
            c.c.y < a.c.y + a.c.h,
            area_a > t * area_c,
            area_c > t * area_a,
            inter * (1 + threshold) > t * (area_a + area_c),
        )
        .order_by(IMAGE.c.path, a.c.id, c.c.id)
    )  # fmt: skip
    return [
        Row(r.image_id, r.path, r.id, r.name, f"IoU {r.iou:.3f} with box {r.other}")
        for r in conn.execute(stmt)
    ]
