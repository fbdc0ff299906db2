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


def box_conditions(dataset_id: int, min_box_size: float) -> dict[str, ColumnElement[bool]]:
    """Per-box problem predicates over ``BOX`` joined to ``IMAGE``.

    Rejected boxes are never exported, so only proposed and accepted boxes count.
    Non-finite boxes count only as non-finite, not also as outside or small.
    """
    b = BOX.c
    live = b.status != "rejected"
    finite = _finite()
    return {
        "boxes_nonfinite": and_(live, case((finite, False), else_=True)),
        "boxes_outside": and_(live, finite, _outside()),
        "boxes_too_small": and_(live, finite, _smaller_than(MIN_VALID_SIZE)),
        "boxes_tiny": and_(
            live, finite, not_(_smaller_than(MIN_VALID_SIZE)), _smaller_than(min_box_size)
        ),
        "boxes_foreign_label": and_(live, _foreign(dataset_id)),
    }


def any_problem(dataset_id: int, min_box_size: float) -> ColumnElement[bool]:
    """A cheap superset of the conditions above: evaluated for every box, so no repeats."""
    return and_(
        BOX.c.status != "rejected",
        or_(
            case((_finite(), False), else_=True),
            _outside(),
            _smaller_than(max(MIN_VALID_SIZE, min_box_size)),
            _foreign(dataset_id),
        ),
    )


def _finite() -> ColumnElement[bool]:
    # x * 0 is 0 for a number and NaN for +-inf or NaN: SQLite turns NaN into NULL and
    # PostgreSQL's NaN equals no number, so "= 0" is true exactly for finite boxes.
    b = BOX.c
    return b.x * 0 + b.y * 0 + b.w * 0 + b.h * 0 == 0


def _outside() -> ColumnElement[bool]:
    b, i = BOX.c, IMAGE.c
    return or_(
        b.x < -EDGE_SLACK,
        b.y < -EDGE_SLACK,
        b.x + b.w > i.width + EDGE_SLACK,
        b.y + b.h > i.height + EDGE_SLACK,
    )


def _smaller_than(size: float) -> ColumnElement[bool]:
    return or_(BOX.c.w < size, BOX.c.h < size)


def _foreign(dataset_id: int) -> ColumnElement[bool]:
    # An uncorrelated IN list is evaluated once; cheaper than joining every box to its label.
    return BOX.c.label_id.not_in(select(LABEL.c.id).where(LABEL.c.dataset_id == dataset_id))


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
    totals: dict[str, int]  # total/accepted/proposed/rejected
    labels: dict[int, tuple[int, int, int]]  # label id -> (accepted, proposed, images)
    undecided_images: int


def box_counts(conn: Connection, dataset_id: int, label_ids: list[int]) -> BoxCounts:
    """Box totals by status and label, images per label, images with only proposals.

    Three nested GROUP BYs: (image, label, status) reads only the covering index
    ``ix_box_image_label``, never a table row; per image then pivots the few groups
    into columns (an image with an accepted box of label L has ``acc_L > 0``, which
    avoids COUNT(DISTINCT) and its temporary B-tree); the outer level sums images.
    Only ``label_ids`` get per-label columns.
    """
    b = BOX.c
    groups = (
        select(b.image_id, b.label_id, b.status, func.count().label("n"))
        .where(b.image_id.in_(select(IMAGE.c.id).where(IMAGE.c.dataset_id == dataset_id)))
        .group_by(b.image_id, b.label_id, b.status)
    ).subquery()
    g = groups.c

    def n_if(cond):
        return func.sum(case((cond, g.n), else_=0))

    per_image = {
        status: n_if(g.status == status) for status in ("accepted", "proposed", "rejected")
    }
    for i, label_id in enumerate(label_ids):
        per_image[f"acc_{i}"] = n_if(and_(g.label_id == label_id, g.status == "accepted"))
        per_image[f"prop_{i}"] = n_if(and_(g.label_id == label_id, g.status == "proposed"))
    images = (
        select(*(col.label(key) for key, col in per_image.items())).group_by(g.image_id)
    ).subquery()
    m = images.c
    outer = {key: func.sum(col) for key, col in m.items()}
    for i in range(len(label_ids)):
        outer[f"img_{i}"] = _sum_if(m[f"acc_{i}"] > 0)
    outer["undecided"] = _sum_if(and_(m.proposed > 0, m.accepted + m.rejected == 0))
    row = conn.execute(select(*(col.label(key) for key, col in outer.items()))).one()._mapping
    row = {key: int(value or 0) for key, value in row.items()}
    totals = {key: row[key] for key in ("accepted", "proposed", "rejected")}
    totals["total"] = sum(totals.values())
    labels = {
        label_id: (row[f"acc_{i}"], row[f"prop_{i}"], row[f"img_{i}"])
        for i, label_id in enumerate(label_ids)
    }
    return BoxCounts(totals, labels, row["undecided"])


def problem_counts(
    conn: Connection,
    dataset_id: int,
    conditions: dict[str, ColumnElement[bool]],
    prefilter: ColumnElement[bool],
) -> dict[str, int]:
    """How many live boxes meet each condition: one scan, per-condition sums only for the
    (rare) boxes meeting any, so a clean box costs one OR chain and no aggregate steps."""
    stmt = (
        select(*(_sum_if(cond).label(key) for key, cond in conditions.items()))
        .select_from(BOX.join(IMAGE, BOX.c.image_id == IMAGE.c.id))
        .where(_in_dataset(dataset_id), prefilter)
    )
    return {key: int(v or 0) for key, v in conn.execute(stmt).one()._mapping.items()}


def box_rows(
    conn: Connection, dataset_id: int, cond: ColumnElement[bool], limit: int | None, count: int
) -> list[Row]:
    """Boxes matching ``cond`` (``count`` of them in all), in image path order, at most ``limit``.

    Ordered by path alone, so SQLite walks the (dataset, path) index and stops at the
    last row wanted: with a tie-breaker it must see the next matching image before it
    can emit the current one, which for the last match means reading every box.
    """
    b = BOX.c
    stmt = (
        select(b.id, b.image_id, IMAGE.c.path, LABEL.c.name, b.x, b.y, b.w, b.h, b.score)
        .select_from(_box_from())
        .where(IMAGE.c.dataset_id == dataset_id, cond)
        .order_by(IMAGE.c.path)
        .limit(count if limit is None else min(limit, count))
    )
    rows = [
        Row(r.image_id, r.path, r.id, r.name, _describe_box(r.x, r.y, r.w, r.h, r.score))
        for r in conn.execute(stmt)
    ]
    return sorted(rows, key=lambda row: (row.path, row.box_id))


def _describe_box(x, y, w, h, score) -> str:
    # One decimal for pixels and two for scores: a report to read, not a dump of floats.
    text = f"x={_num(x)} y={_num(y)} w={_num(w)} h={_num(h)}"
    return text if score is None else f"{text} score={score:.2f}"


def _num(v: Any) -> str:
    return "NaN" if v is None else f"{v:.1f}"


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
