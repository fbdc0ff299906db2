"""Per-user figures of the Team page: images finished, boxes drawn, proposals accepted and
rejected, approval rate, time per image, and images reviewed. Counts are SQL aggregates
grouped by name.

Time per image is the median gap between a person's consecutive finishes (done / empty);
a gap over :data:`BREAK` is a pause, not work, and is left out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labeler.store.models import Box
from labeler.store.team import Account, ImageEvent

BREAK = timedelta(minutes=10)


@dataclass(frozen=True)
class UserFigures:
    name: str
    role: str | None  # None: a name in the history without an account (single-user mode)
    images_done: int
    boxes_drawn: int
    proposals_accepted: int
    proposals_rejected: int
    approved: int  # of their finished images, by a reviewer
    sent_back: int
    seconds_per_image: float | None
    images_reviewed: int = 0  # approvals and send-backs they made as a reviewer

    @property
    def approval_rate(self) -> float | None:
        reviewed = self.approved + self.sent_back
        return self.approved / reviewed if reviewed else None

    def to_dict(self) -> dict:
        return {**self.__dict__, "approval_rate": self.approval_rate}


def _grouped(session: Session, q) -> dict[str, int]:
    return {name: int(n) for name, n in session.execute(q) if name is not None}


def _seconds_per_image(session: Session) -> dict[str, float]:
    finishes = select(ImageEvent.actor, ImageEvent.at).where(ImageEvent.kind.in_(("done", "empty")))
    gaps: dict[str, list[float]] = {}
    last: dict[str, object] = {}
    for actor, at in session.execute(finishes.order_by(ImageEvent.actor, ImageEvent.at)):
        before = last.get(actor)
        if before is not None and at - before <= BREAK:
            gaps.setdefault(actor, []).append((at - before).total_seconds())
        last[actor] = at
    return {actor: statistics.median(g) for actor, g in gaps.items()}


def team_figures(session: Session) -> list[UserFigures]:
    """One row per account, then per other name that made or decided boxes, by name."""
    finished = _grouped(
        session,
        select(ImageEvent.actor, func.count(func.distinct(ImageEvent.image_id)))
        .where(ImageEvent.kind.in_(("done", "empty")))
        .group_by(ImageEvent.actor),
    )
    drawn = _grouped(
        session,
        select(Box.created_by, func.count(Box.id))
        .where(Box.source == "user")
        .group_by(Box.created_by),
    )
    decided = {
        status: _grouped(
            session,
            select(Box.decided_by, func.count(Box.id))
            .where(Box.source != "user", Box.status == status)
            .group_by(Box.decided_by),
        )
        for status in ("accepted", "rejected")
    }
    reviews = {
        kind: _grouped(
            session,
            select(ImageEvent.subject, func.count(ImageEvent.id))
            .where(ImageEvent.kind == kind)
            .group_by(ImageEvent.subject),
        )
        for kind in ("approved", "sent_back")
    }
    reviewed = _grouped(
        session,
        select(ImageEvent.actor, func.count(ImageEvent.id))
        .where(ImageEvent.kind.in_(("approved", "sent_back")))
        .group_by(ImageEvent.actor),
    )
    timing = _seconds_per_image(session)
    roles = {name: role for name, role in session.execute(select(Account.name, Account.role))}
    names = set(roles) | set(finished) | set(drawn) | set(decided["accepted"])
    names |= set(decided["rejected"]) | set(reviewed)
    return [
        UserFigures(
            name=name,
            role=roles.get(name),
            images_done=finished.get(name, 0),
            boxes_drawn=drawn.get(name, 0),
            proposals_accepted=decided["accepted"].get(name, 0),
            proposals_rejected=decided["rejected"].get(name, 0),
            approved=reviews["approved"].get(name, 0),
            sent_back=reviews["sent_back"].get(name, 0),
            seconds_per_image=timing.get(name),
            images_reviewed=reviewed.get(name, 0),
        )
        for name in sorted(names, key=lambda n: (n not in roles, n))
    ]
