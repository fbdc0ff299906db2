"""Review: the image events behind approve / send back, the reviewer's queue, and the
annotator's view of a send-back comment.

An image's states: new -> in_progress -> done | empty -> approved, and a reviewer's
send-back returns a done, empty or approved image to in_progress with a comment. Every
finish (done / empty) and review step is an :class:`~labeler.store.team.ImageEvent`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler.store.models import Dataset, Image
from labeler.store.queries import InvalidInput
from labeler.store.team import ImageEvent

REVIEWABLE = ("done", "empty")  # what a reviewer may approve
MAX_COMMENT = 2000


def check_transition(image: Image, *, state: str, comment: str | None) -> None:
    """422 for a review step that makes no sense (the role check is the caller's)."""
    if state == "approved" and image.state not in (*REVIEWABLE, "approved"):
        raise InvalidInput(
            f"image {image.id} is {image.state}: only done or empty images can be approved"
        )
    if comment is None:
        return
    if not comment.strip() or len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment must be 1-{MAX_COMMENT} characters saying what to fix")
    if state != "in_progress":
        raise InvalidInput('a comment sends an image back: use it with "state": "in_progress"')
    if image.state not in (*REVIEWABLE, "approved"):
        raise InvalidInput(f"image {image.id} is {image.state}: only a finished image is sent back")


def _last(session: Session, image_id: int, kinds: tuple[str, ...]) -> ImageEvent | None:
    q = select(ImageEvent).where(ImageEvent.image_id == image_id, ImageEvent.kind.in_(kinds))
    return session.scalar(q.order_by(ImageEvent.id.desc()).limit(1))


def record_state(
    session: Session, image: Image, *, previous: str, who: str, comment: str | None
) -> None:
    """Note a finish or review step (a plain in-progress edit, or marking an image done
    again, is not an event)."""
    if image.state in REVIEWABLE and previous != image.state:
        kind = image.state
    elif image.state in REVIEWABLE:
        return
    elif image.state == "approved" and previous != "approved":
        kind = "approved"
    elif comment is not None:
        kind = "sent_back"
    else:
        return
    subject = None
    if kind in ("approved", "sent_back"):  # the review judges whoever finished it last
        finished = _last(session, image.id, REVIEWABLE)
        subject = finished.actor if finished is not None else None
    session.add(
        ImageEvent(
            image_id=image.id, kind=kind, actor=who, subject=subject,
            comment=comment.strip() if comment else None, image_version=image.version,
        )
    )  # fmt: skip
    session.flush()


def send_back_note(session: Session, image: Image) -> dict | None:
    """The reviewer's comment while the image is back with its annotator (until it is
    finished again): ``{"comment", "by", "at"}``, else None."""
    if image.state not in ("new", "in_progress"):
        return None
    last = _last(session, image.id, (*REVIEWABLE, "approved", "sent_back"))
    if last is None or last.kind != "sent_back":
        return None
    return {"comment": last.comment, "by": last.actor, "at": last.at.isoformat()}


def review_queue(
    session: Session, *, dataset: Dataset | None = None, after: int | None = None, limit: int = 100
) -> tuple[list[Image], int | None]:
    """Done and empty images waiting for a reviewer, by id; the next page's cursor."""
    q = select(Image).where(Image.state.in_(REVIEWABLE))
    if dataset is not None:
        q = q.where(Image.dataset_id == dataset.id)
    if after is not None:
        q = q.where(Image.id > after)
    rows = list(session.scalars(q.order_by(Image.id).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt
