"""Is a dataset ready to release? Completeness checks behind ``labeler check`` and the web page.

``check_dataset(ws, name)`` returns a :class:`CompletenessReport`: counts with
the items behind each count (capped at ``limit``), per-label statistics and
whether anything blocks a release. Counting runs as SQL aggregates
(:mod:`labeler.completeness.sql`); file verification is opt-in
(:mod:`labeler.completeness.files`).

JSON schema (``report.to_dict()``; ``labeler check --json`` prints
``{"schema": "labeler-check/1", "blocking": bool, "datasets": [report, ...]}``)::

    {
      "dataset": str, "dataset_id": int,
      "blocking": bool,                 # true if any "blocker" check has count > 0
      "blockers": [str, ...],           # one line per blocking check: "3 images not started"
      "settings": {"min_box_size": float, "min_per_label": int,
                   "near_duplicate_iou": float, "verify_files": bool, "limit": int | null,
                   "require_review": bool},
      "images": {"total": int, "new": int, "in_progress": int, "done": int, "empty": int,
                 "approved": int},
      "boxes": {"total": int, "accepted": int, "proposed": int, "rejected": int},
      "checks": {                        # every key in CHECKS, always present, in that order
        "<key>": {"title": str, "severity": "blocker" | "warning" | "info",
                  "checked": bool,       # false for files_* unless verify_files, and
                                         # for images_unreviewed unless require_review
                  "count": int,          # the full count, whatever the limit
                  "truncated": bool,     # count > len(items)
                  "items": [{"image_id": int | null, "path": str | null,
                             "box_id": int | null, "label": str | null,
                             "detail": str | null}, ...]}
      },
      "labels": [{"id": int, "name": str, "colour": str, "accepted": int, "proposed": int,
                  "images": int, "below_minimum": bool}, ...]
    }

Paths are workspace-relative POSIX paths as stored. Box checks count boxes (near-duplicates:
pairs, item = the lower box id); image and file checks count images; labels_below_minimum labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from labeler.completeness import sql as q
from labeler.completeness.checks import CHECKS, Check, LabelStats
from labeler.completeness.duplicates import duplicate_images, near_duplicates
from labeler.completeness.files import FILE_CHECKS, stored_images, verify_files
from labeler.completeness.sql import Row
from labeler.store.models import IMAGE_STATES, Dataset, LabelClass
from labeler.store.queries import NotFound
from labeler.store.review import REVIEWABLE

DEFAULT_MIN_BOX_SIZE = 4.0
DEFAULT_MIN_PER_LABEL = 10
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class CompletenessReport:
    dataset: str
    dataset_id: int
    images: dict[str, int]
    boxes: dict[str, int]
    checks: tuple[Check, ...]
    labels: tuple[LabelStats, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    @property
    def blockers(self) -> list[str]:
        """One sentence per blocking problem, e.g. ``"3 images not started"``."""
        return [f"{c.count} {c.title}" for c in self.checks if c.severity == "blocker" and c.count]

    @property
    def blocking(self) -> bool:
        return bool(self.blockers)

    def summary(self) -> dict[str, Any]:
        """Short JSON-able counts, e.g. for a release manifest."""
        return {
            "dataset": self.dataset,
            "blocking": self.blocking,
            "images": dict(self.images),
            "boxes": dict(self.boxes),
            "problems": {
                c.key: c.count
                for c in self.checks
                if c.checked and c.count and c.severity != "info"
            },
            "files_verified": self.settings.get("verify_files", False),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "dataset_id": self.dataset_id,
            "blocking": self.blocking,
            "blockers": self.blockers,
            "settings": dict(self.settings),
            "images": dict(self.images),
            "boxes": dict(self.boxes),
            "checks": {c.key: c.to_dict() for c in self.checks},
            "labels": [asdict(stats) for stats in self.labels],
        }


def check_dataset(
    ws,
    name: str,
    *,
    verify_files: bool = False,
    min_box_size: float = DEFAULT_MIN_BOX_SIZE,
    min_per_label: int = DEFAULT_MIN_PER_LABEL,
    limit: int | None = DEFAULT_LIMIT,
    progress: bool = False,
    require_review: bool = False,
) -> CompletenessReport:
    """Check dataset ``name`` of workspace ``ws``; raises ``NotFound`` for an unknown name.

    Parameters
    ----------
    ws : labeler.workspace.Workspace
    name : str
        Dataset name.
    verify_files : bool
        Hash every file and read its header (slow: reads every byte); default off.
    min_box_size : float
        Boxes narrower or lower than this (but at least 2 px) are reported as tiny.
    min_per_label : int
        Labels with fewer accepted boxes are reported.
    limit : int or None
        At most this many items per check (counts are always complete); ``None`` for all.
    progress : bool
        Show a progress bar on stderr while verifying files.
    require_review : bool
        Done and empty images not approved by a reviewer block a release.
    """
    if min_box_size < 0 or min_per_label < 0 or (limit is not None and limit < 0):
        raise ValueError("min_box_size, min_per_label and limit must not be negative")
    settings = {
        "min_box_size": float(min_box_size),
        "min_per_label": int(min_per_label),
        "near_duplicate_iou": q.NEAR_DUPLICATE_IOU,
        "verify_files": bool(verify_files),
        "limit": limit,
        "require_review": bool(require_review),
    }
    with ws.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # 2 MB default: every pass below would reread disk
            conn.exec_driver_sql("PRAGMA cache_size = -131072")  # 128 MB
        dataset = conn.execute(select(Dataset.id, Dataset.name).where(Dataset.name == name)).first()
        if dataset is None:
            known = ", ".join(conn.scalars(select(Dataset.name).order_by(Dataset.name))) or "none"
            raise NotFound(f"no dataset named {name!r} (datasets: {known})")
        found, images, boxes, labels = _sql_checks(conn, dataset.id, settings)
        if verify_files:
            i = q.IMAGE.c
            stmt = select(i.id, i.path, i.sha256, i.width, i.height).where(
                i.dataset_id == dataset.id
            )
            files = stored_images(conn.execute(stmt.order_by(i.path)))
    if verify_files:
        found.update(_verify(ws, files, limit, progress))
    else:
        found.update({key: Check(key, 0, checked=False) for key in FILE_CHECKS})
    return CompletenessReport(
        dataset=dataset.name,
        dataset_id=dataset.id,
        images=images,
        boxes=boxes,
        checks=tuple(found[key] for key in CHECKS),
        labels=tuple(labels),
        settings=settings,
    )


def _sql_checks(conn, ds_id: int, settings: dict[str, Any]):
    limit, min_per_label = settings["limit"], settings["min_per_label"]
    found: dict[str, Check] = {}
    states = q.image_state_counts(conn, ds_id)
    images = {"total": sum(states.values()), **{s: states.get(s, 0) for s in IMAGE_STATES}}
    for state in IMAGE_STATES:
        where = [q.IMAGE.c.dataset_id == ds_id, q.IMAGE.c.state == state]
        rows = q.image_rows(conn, where, limit) if states.get(state) else []
        found[f"images_{state}"] = Check(f"images_{state}", states.get(state, 0), tuple(rows))
    if settings["require_review"]:  # else not checked, as files are without verify_files
        unreviewed = [q.IMAGE.c.dataset_id == ds_id, q.IMAGE.c.state.in_(REVIEWABLE)]
        n = sum(states.get(state, 0) for state in REVIEWABLE)
        rows = q.image_rows(conn, unreviewed, limit) if n else []
        found["images_unreviewed"] = Check("images_unreviewed", n, tuple(rows))
    else:
        found["images_unreviewed"] = Check("images_unreviewed", 0, checked=False)

    label_rows = conn.execute(
        select(LabelClass.id, LabelClass.name, LabelClass.colour)
        .where(LabelClass.dataset_id == ds_id)
        .order_by(LabelClass.id)
    ).all()
    counts = q.box_counts(conn, ds_id, [r.id for r in label_rows])
    boxes = {k: counts.totals[k] for k in ("total", "accepted", "proposed", "rejected")}
    conditions = q.box_conditions(ds_id, settings["min_box_size"])
    prefilter = q.any_problem(ds_id, settings["min_box_size"])
    problems = q.problem_counts(conn, ds_id, conditions, prefilter)
    problems["proposals_undecided"] = boxes["proposed"]
    conditions["proposals_undecided"] = q.BOX.c.status == "proposed"
    for key, cond in conditions.items():
        n = problems[key]
        found[key] = Check(key, n, tuple(q.box_rows(conn, ds_id, cond, limit, n) if n else ()))
    n = counts.undecided_images
    rows = q.undecided_image_rows(conn, ds_id, limit) if n else []
    found["images_undecided"] = Check("images_undecided", n, tuple(rows))
    pairs = near_duplicates(conn, ds_id) if counts.totals["total"] > 1 else []
    found["boxes_near_duplicate"] = Check("boxes_near_duplicate", len(pairs), tuple(pairs[:limit]))
    n, rows = duplicate_images(conn, ds_id, limit)
    found["images_duplicate"] = Check("images_duplicate", n, tuple(rows))

    labels = [
        LabelStats(
            r.id, r.name, r.colour, *counts.labels[r.id], counts.labels[r.id][0] < min_per_label
        )
        for r in label_rows
    ]
    low = [
        Row(label=s.name, detail=f"{s.accepted} accepted boxes on {s.images} images")
        for s in labels
        if s.below_minimum
    ]
    found["labels_below_minimum"] = Check("labels_below_minimum", len(low), tuple(low[:limit]))
    return found, images, boxes, labels


def _verify(ws, files, limit, progress) -> dict[str, Check]:
    max_pixels = int(ws.config.get("max_pixels", 100_000_000))
    from labeler.progress import progress as progress_bar

    with progress_bar(total=len(files), label="verify files", enabled=progress) as advance:
        problems = verify_files(files, ws.abspath, max_pixels=max_pixels, on_done=advance)
    return {key: Check(key, len(rows), tuple(rows[:limit])) for key, rows in problems.items()}


def review_required(ws) -> bool:
    """The workspace's ``require_review`` setting (``.labeler/config.toml``): the default
    of ``labeler check --require-review``, the web's Completeness page and the version gate."""
    return bool(ws.config.get("require_review", False))


def check_workspace(ws, **options) -> list[CompletenessReport]:
    """:func:`check_dataset` for every dataset of the workspace, by name."""
    with ws.engine.connect() as conn:
        names = list(conn.scalars(select(Dataset.name).order_by(Dataset.name)))
    return [check_dataset(ws, name, **options) for name in names]
