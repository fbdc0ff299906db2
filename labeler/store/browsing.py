"""Read queries behind the listings: keyset pages, per-dataset counts, neighbours.

Every query here is an index range or an aggregate over covering indexes, so a page of a
100,000-image dataset costs the same as a page of a 100-image one.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from labeler.store.models import IMAGE_STATES, Box, Dataset, Image, ImageState

UNFINISHED = ("new", "in_progress")


def list_datasets(session: Session) -> list[Dataset]:
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


def image_boxes(session: Session, image_id: int) -> list[Box]:
    return list(session.scalars(select(Box).where(Box.image_id == image_id).order_by(Box.id)))


def neighbours(session: Session, image: Image) -> dict[str, int | None]:
    """``prev_id``/``next_id`` by id in the dataset and the next unfinished one (wrapping)."""
    same = Image.dataset_id == image.dataset_id
    prev_id = session.scalar(select(func.max(Image.id)).where(same, Image.id < image.id))
    next_id = session.scalar(select(func.min(Image.id)).where(same, Image.id > image.id))
    unfinished = and_(same, Image.state.in_(UNFINISHED), Image.id != image.id)
    next_unfinished = session.scalar(
        select(func.min(Image.id)).where(unfinished, Image.id > image.id)
    ) or session.scalar(select(func.min(Image.id)).where(unfinished))
    return {"prev_id": prev_id, "next_id": next_id, "next_unfinished_id": next_unfinished}


def dataset_counts(session: Session, dataset_ids: list[int]) -> dict[int, dict]:
    """Per dataset: images per state, total, undecided (``proposed``) boxes; SQL aggregates.

    Both queries read covering indexes only (``ix_image_dataset_state``,
    ``ix_box_status_image``), never the image or box rows themselves.
    """
    out = {i: dict.fromkeys((*IMAGE_STATES, "total", "undecided"), 0) for i in dataset_ids}
    if not dataset_ids:
        return out
    q = (
        select(Image.dataset_id, Image.state, func.count())
        .where(Image.dataset_id.in_(dataset_ids))
        .group_by(Image.dataset_id, Image.state)
    )
    for ds_id, state, n in session.execute(q):
        out[ds_id][state] = int(n)
        out[ds_id]["total"] += int(n)
    pq = (
        select(Image.dataset_id, func.count(Box.id))
        .join(Image, Box.image_id == Image.id)
        .where(Box.status == "proposed", Image.dataset_id.in_(dataset_ids))
        .group_by(Image.dataset_id)
    )
    for ds_id, n in session.execute(pq):
        out[ds_id]["undecided"] = int(n)
    return out


def list_images(
    session: Session,
    dataset: Dataset,
    *,
    state: ImageState | None = None,
    label_id: int | None = None,
    undecided: bool = False,
    after: int | None = None,
    limit: int = 100,
) -> tuple[list[Image], int | None]:
    """One page of the dataset's images by id, and the cursor of the next page (or None).

    Keyset pagination (``id > after``) costs the same on page 1 and page 1,000
    of a 100,000-image dataset, where OFFSET would scan every skipped row.
    """
    q = select(Image).where(Image.dataset_id == dataset.id)
    if state:
        q = q.where(Image.state == state)
    if after is not None:
        q = q.where(Image.id > after)
    if label_id is not None:
        has = select(Box.id).where(
            Box.image_id == Image.id, Box.label_id == label_id, Box.status != "rejected"
        )
        q = q.where(has.exists())
    if undecided:
        q = q.where(
            select(Box.id).where(Box.image_id == Image.id, Box.status == "proposed").exists()
        )
    rows = list(session.scalars(q.order_by(Image.id).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt
