"""The checks of a completeness report: their titles and severities, in report order, and
the :class:`Check` (a count and the items behind it) and :class:`LabelStats` rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from labeler.completeness.sql import Row

# key -> (title, severity); the order is the order of the report.
CHECKS: dict[str, tuple[str, str]] = {
    # "new" means no accepted box and no finish yet: opening an image does not change it.
    "images_new": ("images not started (no box accepted, not marked)", "blocker"),
    "images_in_progress": ("images in progress", "blocker"),
    "images_done": ("images done", "info"),
    "images_empty": ("images confirmed empty", "info"),
    "images_approved": ("images approved by a reviewer", "info"),
    # checked (a blocker) only with require_review: `labeler check --require-review`, or
    # `require_review = true` in .labeler/config.toml (which `version create` obeys too)
    "images_unreviewed": ("finished images not approved by a reviewer", "blocker"),
    "proposals_undecided": ("undecided proposals", "blocker"),
    "images_undecided": ("images with proposals but no decision", "blocker"),
    "boxes_outside": ("boxes outside the image", "blocker"),
    "boxes_too_small": ("boxes under 2 px wide or high", "blocker"),
    "boxes_nonfinite": ("boxes with non-finite coordinates", "blocker"),
    "boxes_foreign_label": ("boxes with a label not in the dataset's label set", "blocker"),
    "boxes_tiny": ("tiny boxes (under the minimum size)", "warning"),
    "boxes_near_duplicate": ("near-duplicate box pairs (same label, IoU > 0.9)", "warning"),
    "files_missing": ("missing files", "blocker"),
    "files_unreadable": ("unreadable files", "blocker"),
    "files_changed": ("files changed since ingest", "blocker"),
    "files_size_mismatch": ("files whose size differs from the stored size", "blocker"),
    "images_duplicate": ("duplicate images (same sha256)", "warning"),
    "labels_below_minimum": ("labels under the minimum box count", "warning"),
}


@dataclass(frozen=True)
class Check:
    """One count and the first items behind it."""

    key: str
    count: int
    items: tuple[Row, ...] = ()
    checked: bool = True

    @property
    def title(self) -> str:
        return CHECKS[self.key][0]

    @property
    def severity(self) -> str:
        return CHECKS[self.key][1]

    @property
    def truncated(self) -> bool:
        return self.count > len(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "severity": self.severity,
            "checked": self.checked,
            "count": self.count,
            "truncated": self.truncated,
            "items": [asdict(item) for item in self.items],
        }


@dataclass(frozen=True)
class LabelStats:
    id: int
    name: str
    colour: str
    accepted: int
    proposed: int
    images: int
    below_minimum: bool
