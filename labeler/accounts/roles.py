"""Roles and the permission table: the one rule of who may do what.

Roles are ordered: a reviewer may do all an annotator may, an admin all a reviewer may.
Every action names the least role it needs; :func:`require` raises :class:`Forbidden`
naming that role, which the web maps to 403 (``labeler.web.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labeler.store.queries import InvalidInput
from labeler.store.team import ROLES, Role

Action = Literal[
    "view",  # datasets, images, boxes, jobs
    "draw",  # create, move, delete boxes; find similar; propagate
    "decide",  # accept or reject proposals
    "finish",  # mark an image new, in progress, done or empty
    "review",  # approve, send back (with a comment), the review queue, the Team page
    "manage_labels",
    "manage_users",
    "assign",
    "import",
    "export",
    "version",
]

PERMISSIONS: dict[Action, Role] = {
    "view": "annotator",
    "draw": "annotator",
    "decide": "annotator",
    "finish": "annotator",
    "review": "reviewer",
    "manage_labels": "admin",
    "manage_users": "admin",
    "assign": "admin",
    "import": "admin",
    "export": "admin",
    "version": "admin",
}
ACTIONS: tuple[Action, ...] = tuple(PERMISSIONS)


class Forbidden(PermissionError):
    """The caller's role may not do ``action``; ``needed`` is the least role that may."""

    def __init__(self, detail: str, *, action: str, needed: str | None, role: str) -> None:
        super().__init__(detail)
        self.action = action
        self.needed = needed
        self.role = role


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role  # type: ignore[return-value]


def allows(role: str, action: Action) -> bool:
    return ROLES.index(role) >= ROLES.index(PERMISSIONS[action])


def require(role: str, action: Action) -> None:
    """Raise :class:`Forbidden` unless ``role`` may do ``action``."""
    if not allows(role, action):
        needed = PERMISSIONS[action]
        raise Forbidden(
            f"{action.replace('_', ' ')} needs the {needed} role (you are {role})",
            action=action,
            needed=needed,
            role=role,
        )


def state_action(*, new_state: str, current_state: str, comment: bool) -> Action:
    """The action an image-state change is: approving, sending back with a comment or
    changing an approved image is a review; any other state change is finishing work."""
    if new_state == "approved" or current_state == "approved" or comment:
        return "review"
    return "finish"


@dataclass(frozen=True)
class Identity:
    """Who a request (or a command) acts as. ``account_id`` is None in single-user mode,
    where the one local user may do everything."""

    name: str
    role: Role
    account_id: int | None = None
    via: Literal["local", "session", "token"] = "local"

    def require(self, action: Action) -> None:
        require(self.role, action)

    @property
    def sees_all(self) -> bool:
        """Reviewers, admins and the single user see every image; annotators only the
        unassigned ones and their own."""
        return self.account_id is None or allows(self.role, "review")

    def may_see(self, assignee: str | None) -> bool:
        """May open an image assigned to ``assignee`` (a user name; None: unassigned)."""
        return self.sees_all or assignee is None or assignee == self.name

    def image_refusal(self, *, image_id: int, assignee: str | None, state: str,
                      write: bool) -> Forbidden | None:  # fmt: skip
        """Why this identity may not open (or, ``write``, change) the image, or None.
        An approved image is the reviewer's: changing it is a review."""
        if not self.may_see(assignee):
            return Forbidden(
                f"image {image_id} is assigned to {assignee}: an annotator sees only "
                "unassigned images and their own",
                action="view", needed="reviewer", role=self.role,
            )  # fmt: skip
        if write and state == "approved" and not allows(self.role, "review"):
            return Forbidden(
                f"image {image_id} is approved: changing it needs the reviewer role "
                f"(you are {self.role})",
                action="review", needed="reviewer", role=self.role,
            )  # fmt: skip
        return None
