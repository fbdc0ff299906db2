"""Helpers shared by the API and page views: the workspace, the user, lookups, JSON shapes."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app, request
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from labeler.store.models import Box, Dataset, Image, LabelClass
from labeler.web.errors import bad_request, not_found
from labeler.workspace import Workspace

T = TypeVar("T")
UNFINISHED = ("new", "in_progress")
USER_HEADER = "X-Labeler-User"


def workspace() -> Workspace:
    return current_app.extensions["labeler.workspace"]


def user() -> str:
    """Who is editing: the ``X-Labeler-User`` header, else the workspace's user."""
    name = request.headers.get(USER_HEADER, "").strip()
    if len(name) > 200:
        raise bad_request(f"{USER_HEADER} header longer than 200 characters")
    return name or workspace().user


def get_or_404(session: Session, model: type[T], ident: int) -> T:
    obj = session.get(model, ident)
    if obj is None:
        raise not_found(f"no {model.__tablename__} with id {ident}")
    return obj


def label_json(label: LabelClass) -> dict[str, Any]:
    return {"id": label.id, "name": label.name, "colour": label.colour, "hotkey": label.hotkey}


def box_json(box: Box) -> dict[str, Any]:
    return {
        "id": box.id,
        "image_id": box.image_id,
        "label": box.label.name,
        "label_id": box.label_id,
        "x": box.x,
        "y": box.y,
        "w": box.w,
        "h": box.h,
        "status": box.status,
        "score": box.score,
        "source": box.source,
        "version": box.version,
        "is_exemplar": box.is_exemplar,
    }


def image_item(image: Image, dataset: Dataset) -> dict[str, Any]:
    """The short form used in listings; ``path`` is relative to the dataset's ``images/``."""
    prefix = dataset.images_dir + "/"
    path = image.path[len(prefix) :] if image.path.startswith(prefix) else image.path
    return {
        "id": image.id,
        "path": path,
        "width": image.width,
        "height": image.height,
        "state": image.state,
    }


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
    states = ("new", "in_progress", "done", "empty")
    out = {i: dict.fromkeys((*states, "total", "undecided"), 0) for i in dataset_ids}
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
    state: str | None = None,
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
