"""Read queries behind the listings: keyset pages, per-dataset counts, neighbours.

Every query here is an index range or an aggregate over covering indexes, so a page of a
100,000-image dataset costs the same as a page of a 100-image one.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from labeler.store.models import IMAGE_STATES, Box, BoxStatus, Dataset, Image, ImageState
from labeler.store.team import Account, Assignment

UNFINISHED = ("new", "in_progress")


def list_datasets(session: Session) -> list[Dataset]:
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


BoxOrder = Literal["id", "review"]


def image_boxes(
    session: Session,
    image_id: int,
    *,
    status: BoxStatus | None = None,
    min_score: float | None = None,
    order: BoxOrder = "id",
) -> list[Box]:
    """The image's boxes by id; ``order="review"``: best score first, then top-to-bottom,
    left-to-right (the annotator's review order). ``min_score`` cuts proposals only: a box
    with no score, or one already decided, always passes."""
    q = select(Box).where(Box.image_id == image_id)
    if status is not None:
        q = q.where(Box.status == status)
    if min_score is not None:
        q = q.where(or_(Box.status != "proposed", Box.score.is_(None), Box.score >= min_score))
    if order == "review":
        q = q.order_by(Box.score.desc().nulls_last(), Box.y, Box.x, Box.id)
    else:
        q = q.order_by(Box.id)
    return list(session.scalars(q))


def image_position(session: Session, image: Image) -> int:
    """1-based position of ``image`` in its dataset by id (the annotator's "image N of M")."""
    same = Image.dataset_id == image.dataset_id
    return int(session.scalar(select(func.count()).where(same, Image.id <= image.id)))


def _assigned_to(account_id: int | None):
    """Images assigned to ``account_id`` (None: unassigned images)."""
    mine = select(Assignment.image_id).where(Assignment.image_id == Image.id)
    if account_id is None:
        return ~mine.exists()
    return mine.where(Assignment.account_id == account_id).exists()


def _first_after(session: Session, where, image_id: int) -> int | None:
    """The first image id after ``image_id`` matching ``where``, wrapping to the start."""
    return session.scalar(
        select(func.min(Image.id)).where(where, Image.id > image_id)
    ) or session.scalar(select(func.min(Image.id)).where(where))


def neighbours(
    session: Session, image: Image, *, assignee_id: int | None = None
) -> dict[str, int | None]:
    """``prev_id``/``next_id`` by id in the dataset and the next unfinished one (wrapping).

    With ``assignee_id`` (an annotator's account) the next unfinished image is their next
    assigned one, then the next unassigned one: never one assigned to someone else.
    """
    same = Image.dataset_id == image.dataset_id
    prev_id = session.scalar(select(func.max(Image.id)).where(same, Image.id < image.id))
    next_id = session.scalar(select(func.min(Image.id)).where(same, Image.id > image.id))
    unfinished = and_(same, Image.state.in_(UNFINISHED), Image.id != image.id)
    if assignee_id is None:
        next_unfinished = _first_after(session, unfinished, image.id)
    else:
        next_unfinished = _first_after(
            session, and_(unfinished, _assigned_to(assignee_id)), image.id
        ) or _first_after(session, and_(unfinished, _assigned_to(None)), image.id)
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
    assignee: str | None = None,
    viewer_id: int | None = None,
) -> tuple[list[Image], int | None]:
    """One page of the dataset's images by id, and the cursor of the next page (or None).

    ``assignee``: only the images assigned to that user name ("" for unassigned ones).
    ``viewer_id``: an annotator's account, who sees unassigned images and their own.

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
    if assignee == "":
        q = q.where(_assigned_to(None))
    elif assignee is not None:
        named = select(Account.id).where(Account.name == assignee).scalar_subquery()
        q = q.where(_assigned_to(named))
    if viewer_id is not None:
        q = q.where(_assigned_to(None) | _assigned_to(viewer_id))
    if undecided:
        q = q.where(
            select(Box.id).where(Box.image_id == Image.id, Box.status == "proposed").exists()
        )
    rows = list(session.scalars(q.order_by(Image.id).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt


def image_at(session: Session, dataset_id: int, position: int) -> int | None:
    """The id of the dataset's ``position``-th image by id (1-based), or None."""
    q = (
        select(Image.id)
        .where(Image.dataset_id == dataset_id)
        .order_by(Image.id)
        .offset(max(position - 1, 0))
        .limit(1)
    )
    return session.scalar(q)


def image_named(session: Session, dataset_id: int, text: str) -> int | None:
    """The first image (by id) whose path ends with ``text``, else the first containing it."""
    same = Image.dataset_id == dataset_id
    # autoescape: a % or _ in a file name is that character, not a LIKE wildcard.
    for cond in (
        Image.path.endswith("/" + text, autoescape=True),
        Image.path.contains(text, autoescape=True),
    ):
        found = session.scalar(select(func.min(Image.id)).where(same, cond))
        if found is not None:
            return found
    return None


def box_counts(session: Session, image_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per image: accepted and proposed (waiting) box counts, one grouped aggregate."""
    out = {i: {"accepted": 0, "proposed": 0} for i in image_ids}
    if not image_ids:
        return out
    q = (
        select(Box.image_id, Box.status, func.count())
        .where(Box.image_id.in_(image_ids), Box.status.in_(("accepted", "proposed")))
        .group_by(Box.image_id, Box.status)
    )
    for image_id, status, n in session.execute(q):
        out[image_id][status] = int(n)
    return out
