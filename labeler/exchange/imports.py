"""Import a parsed annotation file into a dataset: match entries to images, write boxes.

Matching (:func:`match_paths`) never guesses. An entry's path is matched to an
ingested image by relative path (the path itself, or its longest trailing part
of two or more components equal to an image's path relative to ``images/``),
else by file name when exactly one image has it (Label Studio's upload prefix
``ab12cd34-`` is tried removed too). Unmatched, ambiguous and duplicate entries
are all reported by name, and nothing is written unless ``skip_unmatched``.

Writing (:func:`import_records`) happens in one transaction: any bad box,
unknown label or size mismatch rolls everything back. Re-importing is
idempotent: boxes of ``source="import"`` on the matched images are replaced,
and an imported box identical (same label and status, within 0.01 px) to a box
already drawn or proposed on that image by someone else is skipped, so importing an
export of the same dataset adds nothing.

Imported annotations become ``accepted`` boxes; predictions become
``proposed`` boxes with their ``score`` and ``params={"model_version": ...}``.
An image takes the state the file states (Label Studio: annotated -> ``done``,
annotated with nothing -> ``empty``; Labeler's own exports carry
``labeler_state``); otherwise a ``new`` image that receives accepted boxes
becomes ``in_progress``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import delete, select

from labeler.formats.labelstudio import strip_upload_prefix
from labeler.formats.records import DatasetRecord
from labeler.store.models import IMAGE_STATES, Box, Image
from labeler.store.queries import InvalidBox, ensure_labels, get_dataset, validate_box
from labeler.workspace import Workspace

SAME_BOX_PX = 0.01


class ImportFailed(ValueError):
    """The import was refused; nothing was written. ``problems`` lists every reason."""

    def __init__(self, source: object, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:20]
        more = len(self.problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  ... and {more} more" if more else "")
        super().__init__(f"{source}: nothing imported:\n{lines}")


@dataclass(frozen=True)
class Match:
    mapping: dict[str, str]  # entry path -> image rel path
    unmatched: tuple[str, ...]
    ambiguous: tuple[str, ...]  # entry paths with the reason, e.g. "a.jpg (2 images named a.jpg)"


@dataclass(frozen=True)
class ImportReport:
    images: int
    boxes: int
    proposals: int
    replaced: int
    skipped_identical: int
    unmatched: tuple[str, ...] = ()
    created_labels: tuple[str, ...] = ()


def _strip(path: str, without_suffix: bool) -> str:
    return str(PurePosixPath(path).with_suffix("")) if without_suffix else path


def match_paths(
    entries: Iterable[str], rel_paths: Iterable[str], *, without_suffix: bool = False
) -> Match:
    """Match entry paths to image paths (relative to ``images/``), never guessing.

    With ``without_suffix`` the entries have no extension (YOLO) and are compared to
    the image paths with theirs removed.
    """
    keys: dict[str, list[str]] = defaultdict(list)
    names: dict[str, list[str]] = defaultdict(list)
    for rel in rel_paths:
        key = _strip(rel, without_suffix)
        keys[key].append(rel)
        names[PurePosixPath(key).name].append(rel)
    mapping, unmatched, ambiguous, taken = {}, [], [], {}
    for entry in entries:
        parts = [p for p in PurePosixPath(entry.strip()).parts if p != "/"]
        found = None
        for k in range(len(parts), 1, -1):
            hit = keys.get("/".join(parts[-k:]))
            if hit and len(hit) == 1:
                found = hit[0]
                break
        name = parts[-1] if parts else ""
        if found is None and name:
            for candidate in filter(None, (name, strip_upload_prefix(name))):
                hits = names.get(candidate, [])
                if len(hits) > 1:
                    ambiguous.append(f"{entry} ({len(hits)} images named {candidate})")
                    found = ""
                    break
                if hits:
                    found = hits[0]
                    break
        if found is None:
            unmatched.append(entry)
        elif found and found in taken:
            ambiguous.append(f"{entry} (image {found} already matched by {taken[found]})")
        elif found:
            mapping[entry], taken[found] = found, entry
    return Match(mapping, tuple(unmatched), tuple(ambiguous))


def import_records(
    ws: Workspace,
    dataset_name: str,
    records: DatasetRecord,
    *,
    source: object = "import",
    create_labels: bool = False,
    skip_unmatched: bool = False,
) -> ImportReport:
    """Write ``records`` into dataset ``dataset_name`` in one transaction.

    Raises :class:`ImportFailed` (writing nothing) listing unmatched or ambiguous
    entries, unknown labels (unless ``create_labels``), size mismatches and bad boxes;
    ``source`` (usually the file) prefixes every message.
    """
    with ws.sessions.begin() as s:
        dataset = get_dataset(s, dataset_name)
        prefix = f"{dataset.images_dir}/"
        rows = s.execute(
            select(Image.id, Image.path, Image.width, Image.height).where(
                Image.dataset_id == dataset.id
            )
        ).all()
        by_rel = {r.path.removeprefix(prefix): r for r in rows}
        match = match_paths(
            (img.path for img in records.images),
            by_rel,
            without_suffix=records.paths_without_suffix,
        )
        problems = [f"ambiguous entry {a}" for a in match.ambiguous]
        if not skip_unmatched:
            problems += [f"no ingested image matches entry {u!r}" for u in match.unmatched]
        known = {label.name for label in dataset.labels}
        used = dict.fromkeys(b.label for img in records.images for b in img.boxes)
        unknown = [name for name in used if name not in known]
        if unknown and not create_labels:
            problems.append(
                f"labels not in dataset {dataset.name!r}: {', '.join(map(repr, unknown))}"
                " (use --create-labels to add them)"
            )
        if problems:
            raise ImportFailed(source, problems)
        labels = {lc.name: lc for lc in ensure_labels(s, dataset, used)}
        work = []  # (image row, ImageRecord, [(BoxRecord, xywh)])
        for rec in records.images:
            if rec.path not in match.mapping:
                continue
            row = by_rel[match.mapping[rec.path]]
            if (
                not records.normalized
                and rec.width
                and (rec.width, rec.height)
                != (
                    row.width,
                    row.height,
                )
            ):
                problems.append(
                    f"{rec.path}: size {rec.width}x{rec.height} in the file but"
                    f" {row.width}x{row.height} in the store"
                )
                continue
            if rec.state is not None and rec.state not in IMAGE_STATES:
                problems.append(f"{rec.path}: unknown state {rec.state!r}")
            boxes = []
            for i, b in enumerate(rec.boxes):
                sx, sy = (row.width, row.height) if records.normalized else (1, 1)
                try:
                    xywh = validate_box(
                        b.x * sx, b.y * sy, b.w * sx, b.h * sy, width=row.width, height=row.height
                    )
                except InvalidBox as exc:
                    problems.append(f"{rec.path}: box {i} ({b.label}): {exc}")
                    continue
                boxes.append((b, xywh))
            work.append((row, rec, boxes))
        if problems:
            raise ImportFailed(source, problems)
        return _write(s, ws.user, work, labels, match, unknown if create_labels else [])


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(abs(p - q) <= SAME_BOX_PX for p, q in zip(a, b, strict=True))


def _write(s, user, work, labels, match, created) -> ImportReport:
    ids = [row.id for row, _, _ in work]
    replaced = 0
    for chunk in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        part = ids[chunk : chunk + 500]
        replaced += s.execute(
            delete(Box).where(Box.image_id.in_(part), Box.source == "import")
        ).rowcount
    existing: dict[int, list[tuple[int, str, tuple]]] = defaultdict(list)
    for chunk in range(0, len(ids), 500):
        q = select(Box.image_id, Box.label_id, Box.status, Box.x, Box.y, Box.w, Box.h).where(
            Box.image_id.in_(ids[chunk : chunk + 500])
        )
        for image_id, label_id, status, *xywh in s.execute(q):
            existing[image_id].append((label_id, status, tuple(xywh)))
    n_acc = n_prop = skipped = 0
    for row, _rec, boxes in work:
        for b, xywh in boxes:
            label = labels[b.label]
            if any(
                lid == label.id and status == b.status and _same(xywh, old)
                for lid, status, old in existing[row.id]
            ):
                skipped += 1
                continue
            params = {"model_version": b.model_version} if b.model_version else None
            x, y, w, h = xywh
            s.add(
                Box(image_id=row.id, label_id=label.id, x=x, y=y, w=w, h=h, status=b.status,
                    source="import", score=b.score, params=params, created_by=user,
                    updated_by=user)
            )  # fmt: skip
            n_acc += b.status == "accepted"
            n_prop += b.status != "accepted"
    states = {row.id: rec for row, rec, _boxes in work}
    for chunk in range(0, len(ids), 500):
        for image in s.scalars(select(Image).where(Image.id.in_(ids[chunk : chunk + 500]))):
            rec = states[image.id]
            new_state = rec.state
            if new_state is None and image.state == "new" and rec.accepted:
                new_state = "in_progress"
            if new_state and new_state != image.state:
                image.state, image.updated_by = new_state, user
    s.flush()
    return ImportReport(
        images=len(work),
        boxes=n_acc,
        proposals=n_prop,
        replaced=replaced,
        skipped_identical=skipped,
        unmatched=match.unmatched,
        created_labels=tuple(created),
    )
