"""Box and image-state writes: create, patch, delete, decide, set state.

Optimistic concurrency: a write that names a ``version`` runs as
``UPDATE ... WHERE id = :id AND version = :version`` and bumps the version, so
of two tabs editing one box exactly one wins and the other gets :class:`Conflict`
with the box as it now is, whatever the timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from labeler.store import review
from labeler.store.models import (
    BOX_SOURCES,
    BOX_STATUSES,
    IMAGE_STATES,
    Box,
    BoxStatus,
    Image,
    ImageState,
    utcnow,
)
from labeler.store.queries import (
    Conflict,
    InvalidBox,
    InvalidInput,
    NotFound,
    find_label,
    require,
    validate_box,
)

KEEP: Any = object()  # a patch argument not given: the box keeps its value
DECIDED = ("accepted", "rejected")  # a status that records who decided (box.decided_by)


def _detached(session: Session, obj, *related):
    """``obj`` (and the ``related`` objects it shows) loaded and out of the session: the
    caller's transaction rolls back on the error and would expire it before it is shown."""
    if obj is not None:
        session.refresh(obj)
        for rel in (obj, *(getattr(obj, name) for name in related)):
            session.expunge(rel)
    return obj


def _box_conflict(session: Session, box_id: int) -> Conflict:
    current = _detached(session, session.get(Box, box_id), "label")
    return Conflict(f"box {box_id} was changed by someone else; reload it", current=current)


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _score(score: float | None) -> float | None:
    if score is not None and not 0.0 <= score <= 1.0:
        raise InvalidInput(f"score must be in [0, 1], got {score}")
    return score


def _geometry(image: Image, x, y, w, h) -> dict[str, float]:
    try:
        x, y, w, h = validate_box(x, y, w, h, width=image.width, height=image.height)
    except InvalidBox as exc:
        raise InvalidInput(f"image {image.id}: {exc}") from None
    return {"x": x, "y": y, "w": w, "h": h}


def _start(session: Session, image: Image, who: str) -> None:
    """The first accepted box puts a new image in progress.

    A conditional UPDATE, not an ORM change: the ORM would check the image's ``version``,
    and of 20 simultaneous first boxes on one new image all but the first would then fail
    with a conflict the client never asked for (it sent no image version)."""
    if image.state != "new":
        return
    stmt = (
        update(Image)
        .where(Image.id == image.id, Image.state == "new")
        .values(state="in_progress", updated_by=who, updated_at=utcnow(),
                version=Image.version + 1)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    session.execute(stmt)
    session.expire(image, ["state", "updated_by", "updated_at", "version"])


def create_box(
    session: Session,
    *,
    image_id: int,
    x: float,
    y: float,
    w: float,
    h: float,
    who: str,
    label: str | None = None,
    label_id: int | None = None,
    status: BoxStatus = "accepted",
    source: str = "user",
    score: float | None = None,
    is_exemplar: bool = False,
) -> Box:
    image = require(session, Image, image_id)
    lab = find_label(image.dataset, name=label, label_id=label_id)
    box = Box(
        image_id=image.id,
        label_id=lab.id,
        **_geometry(image, x, y, w, h),
        status=check_choice("status", status, BOX_STATUSES),
        source=check_choice("source", source, BOX_SOURCES),
        score=_score(score),
        is_exemplar=is_exemplar,
        created_by=who,
        updated_by=who,
        decided_by=None if status == "proposed" else who,
    )
    session.add(box)
    session.flush()
    if box.status == "accepted":
        _start(session, image, who)
    session.refresh(box)
    return box


def _guarded_update(session: Session, box: Box, version: int, values: dict, who: str) -> None:
    if box.version != version:
        raise _box_conflict(session, box.id)
    stmt = (
        update(Box)
        .where(Box.id == box.id, Box.version == version)
        .values(**values, version=version + 1, updated_by=who, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount != 1:
        session.expire(box)
        raise _box_conflict(session, box.id)
    session.expire(box)


def patch_box(
    session: Session,
    *,
    box_id: int,
    version: int,
    who: str,
    x: float | None = None,
    y: float | None = None,
    w: float | None = None,
    h: float | None = None,
    label: str | None = None,
    label_id: int | None = None,
    status: BoxStatus | None = None,
    is_exemplar: bool | None = None,
    score: float | None = KEEP,
) -> Box:
    """Change the given fields of box ``box_id`` if it is still at ``version``."""
    box = require(session, Box, box_id)
    image = box.image
    given = {"x": x, "y": y, "w": w, "h": h}
    values: dict[str, Any] = _geometry(
        image, *(getattr(box, k) if v is None else v for k, v in given.items())
    )
    lab = find_label(image.dataset, name=label, label_id=label_id)
    if lab is not None:
        values["label_id"] = lab.id
    values["status"] = (
        box.status if status is None else check_choice("status", status, BOX_STATUSES)
    )
    if status is not None:  # an undo back to "proposed" forgets who had decided
        values["decided_by"] = who if status in DECIDED else None
    if is_exemplar is not None:
        values["is_exemplar"] = is_exemplar
    if score is not KEEP:
        values["score"] = _score(score)
    _guarded_update(session, box, version, values, who)
    if values["status"] == "accepted":
        _start(session, image, who)
    session.flush()
    return session.get(Box, box_id)


def delete_box(session: Session, *, box_id: int, version: int | None = None) -> None:
    """Delete box ``box_id`` (only at ``version``, when given)."""
    box = require(session, Box, box_id)
    if version is not None and box.version != version:
        raise _box_conflict(session, box_id)
    stmt = delete(Box).where(Box.id == box_id, Box.version == box.version)
    if session.execute(stmt.execution_options(synchronize_session=False)).rowcount != 1:
        session.expire_all()
        raise _box_conflict(session, box_id)
    session.expunge(box)


def image_ids_of(session: Session, box_ids: Sequence[int]) -> list[int]:
    """The distinct images of the boxes ``box_ids`` (unknown ids are left out)."""
    return list(session.scalars(select(Box.image_id).where(Box.id.in_(box_ids)).distinct()))


def decide_boxes(
    session: Session,
    *,
    ids: Sequence[int],
    status: BoxStatus,
    who: str,
    versions: Sequence[int] | None = None,
) -> list[Box]:
    """Set the status of every box in ``ids`` (each at its ``versions`` entry, if given)."""
    check_choice("status", status, BOX_STATUSES)
    boxes = {b.id: b for b in session.scalars(select(Box).where(Box.id.in_(ids)))}
    missing = sorted(set(ids) - set(boxes))
    if missing:
        raise NotFound(f"no box with id {', '.join(map(str, missing[:20]))}")
    for i, box_id in enumerate(dict.fromkeys(ids)):
        box = boxes[box_id]
        version = versions[ids.index(box_id)] if versions is not None else box.version
        decided = {"decided_by": who} if status in DECIDED else {"decided_by": None}
        _guarded_update(session, box, version, {"status": status, **decided}, who)
        if status == "accepted":
            _start(session, box.image, who)
        if i % 500 == 499:  # bounded memory for the pending image-state changes
            session.flush()
    session.flush()
    return list(session.scalars(select(Box).where(Box.id.in_(ids)).order_by(Box.id)))


def set_image_state(
    session: Session,
    *,
    image_id: int,
    state: ImageState,
    who: str,
    version: int | None = None,
    comment: str | None = None,
) -> Image:
    """Set the image's state; ``empty`` (no objects) only without accepted boxes.

    Review (:mod:`labeler.store.review`): ``approved`` only from done or empty; back to
    ``in_progress`` with a ``comment`` is a send-back. Who may do which is the caller's
    rule (:func:`labeler.accounts.state_action`)."""
    check_choice("state", state, IMAGE_STATES)
    image = require(session, Image, image_id)
    review.check_transition(image, state=state, comment=comment)
    if version is not None and version != image.version:
        current = _detached(session, image, "dataset")
        raise Conflict(f"image {image_id} was changed; reload it", current=current)
    if state == "empty":
        n = session.scalar(
            select(func.count(Box.id)).where(Box.image_id == image_id, Box.status == "accepted")
        )
        if n:
            raise InvalidInput(
                f"image {image_id} has {n} accepted box(es): delete them before marking "
                "it empty (no objects)"
            )
    previous = image.state
    image.state = state
    image.updated_by = who
    session.flush()
    review.record_state(session, image, previous=previous, who=who, comment=comment)
    return image
