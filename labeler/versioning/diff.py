"""What changed between two versions: images added/removed, boxes added/removed/moved/relabelled.

A version's files are read from the DVC cache through the tagged ``.dvc`` file (fast, offline);
when the cache lacks them (a fresh clone), through ``dvc.api`` which fetches them from the
remote recorded at that tag. The comparison itself is a pure function of two COCO documents.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from labeler.matching import iou
from labeler.versioning.repo import VersionError, git, version_lock
from labeler.versioning.versions import get_version
from labeler.workspace import Workspace

MOVED_IOU = 0.3  # same label and overlapping this much: the same object, moved
RELABELLED_IOU = 0.7  # other label but nearly the same place: the same object, relabelled
_DIR_MD5 = re.compile(r"md5:\s*([0-9a-f]{32})\.dir")


def read_version_file(ws: Workspace, name: str, version: str | int, rel: str) -> bytes:
    """The bytes of ``datasets/NAME/<rel>`` as of a version (e.g. ``labels/coco.json``)."""
    info = get_version(ws, name, version)
    dvc_text = git(ws, "show", f"{info.tag}:datasets/{name}.dvc")
    cached = _from_cache(ws.root / ".dvc" / "cache" / "files" / "md5", dvc_text, rel)
    if cached is not None:
        return cached
    import dvc.api

    with version_lock(ws, f"read {info.tag}:{rel}"):
        try:  # absolute path: dvc.api resolves relative ones against the current directory
            return dvc.api.read(
                f"datasets/{name}/{rel}", repo=str(ws.root), rev=info.tag, mode="rb"
            )
        except Exception as exc:  # DVC raises many types; all mean "not available"
            raise VersionError(
                f"cannot read {rel} of {info.tag}: {exc} (is the DVC remote reachable?)"
            ) from exc


def _from_cache(cache: Path, dvc_text: str, rel: str) -> bytes | None:
    match = _DIR_MD5.search(dvc_text)
    if not match:
        return None
    digest = match.group(1)
    listing = cache / digest[:2] / f"{digest[2:]}.dir"
    try:
        entries = json.loads(listing.read_bytes())
        md5 = next(e["md5"] for e in entries if e["relpath"] == rel)
        return (cache / md5[:2] / md5[2:]).read_bytes()
    except (OSError, ValueError, StopIteration, KeyError, TypeError):
        return None


# --- comparing two COCO documents ----------------------------------------------------------


@dataclass(frozen=True)
class VersionDiff:
    """Changes from version ``a`` to version ``b``; counts are per label name."""

    a: str
    b: str
    images_added: tuple[str, ...]
    images_removed: tuple[str, ...]
    added: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    relabelled: dict[tuple[str, str], int] = field(default_factory=dict)  # (from, to) -> n

    @property
    def labels(self) -> list[str]:
        pairs = [lb for pair in self.relabelled for lb in pair]
        counts = (self.added, self.removed, self.moved, self.unchanged)
        return sorted({*pairs, *(lb for c in counts for lb in c)})

    def to_dict(self) -> dict:
        return {
            "from": self.a,
            "to": self.b,
            "images_added": list(self.images_added),
            "images_removed": list(self.images_removed),
            "labels": {
                lb: {
                    "added": self.added.get(lb, 0),
                    "removed": self.removed.get(lb, 0),
                    "moved": self.moved.get(lb, 0),
                    "unchanged": self.unchanged.get(lb, 0),
                    "relabelled_from": sum(n for (f, _), n in self.relabelled.items() if f == lb),
                    "relabelled_to": sum(n for (_, t), n in self.relabelled.items() if t == lb),
                }
                for lb in self.labels
            },
            "relabelled": [
                {"from": f, "to": t, "boxes": n} for (f, t), n in sorted(self.relabelled.items())
            ],
        }


def coco_boxes(doc: dict) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """``file_name -> [(label, (x, y, w, h)), ...]`` from a COCO document."""
    names = {c["id"]: c["name"] for c in doc.get("categories", [])}
    files = {im["id"]: im["file_name"] for im in doc.get("images", [])}
    out: dict[str, list] = {f: [] for f in files.values()}
    for ann in doc.get("annotations", []):
        box = tuple(float(v) for v in ann["bbox"])
        out[files[ann["image_id"]]].append((names[ann["category_id"]], box))
    return out


def _pair(old: list, new: list, accept) -> list[tuple[int, int]]:
    """Greedy one-to-one pairing of unmatched boxes, best IoU first, where ``accept`` allows."""
    candidates = sorted(
        ((iou(o[1], n[1]), i, j) for i, o in enumerate(old) for j, n in enumerate(new)),
        reverse=True,
    )
    used_old, used_new, pairs = set(), set(), []
    for score, i, j in candidates:
        if i in used_old or j in used_new or not accept(old[i], new[j], score):
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append((i, j))
    return pairs


def diff_coco(a_doc: dict, b_doc: dict, *, a: str = "a", b: str = "b") -> VersionDiff:
    """Compare two COCO documents image by image (boxes on added/removed images count too)."""
    old_images, new_images = coco_boxes(a_doc), coco_boxes(b_doc)
    added, removed, moved, unchanged, relabelled = (Counter() for _ in range(5))
    for file_name in sorted(old_images.keys() | new_images.keys()):
        old = list(old_images.get(file_name, []))
        new = list(new_images.get(file_name, []))
        rules = (
            (unchanged, lambda o, n, s: o[0] == n[0] and _same(o[1], n[1])),
            (moved, lambda o, n, s: o[0] == n[0] and s >= MOVED_IOU),
            (relabelled, lambda o, n, s: o[0] != n[0] and s >= RELABELLED_IOU),
        )
        for counter, accept in rules:
            pairs = _pair(old, new, accept)
            for i, j in pairs:
                key = (old[i][0], new[j][0]) if counter is relabelled else old[i][0]
                counter[key] += 1
            gone_old, gone_new = {i for i, _ in pairs}, {j for _, j in pairs}
            old = [o for i, o in enumerate(old) if i not in gone_old]
            new = [n for j, n in enumerate(new) if j not in gone_new]
        removed.update(label for label, _ in old)
        added.update(label for label, _ in new)
    return VersionDiff(
        a=a,
        b=b,
        images_added=tuple(sorted(new_images.keys() - old_images.keys())),
        images_removed=tuple(sorted(old_images.keys() - new_images.keys())),
        added=dict(added),
        removed=dict(removed),
        moved=dict(moved),
        unchanged=dict(unchanged),
        relabelled=dict(relabelled),
    )


def _same(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
    return all(abs(u - v) <= 0.01 for u, v in zip(p, q, strict=True))


def diff_versions(ws: Workspace, name: str, a: str | int, b: str | int) -> VersionDiff:
    """Diff the ``labels/coco.json`` of two versions of dataset ``name``."""
    docs = []
    for version in (a, b):
        raw = read_version_file(ws, name, version, "labels/coco.json")
        docs.append(json.loads(raw))
    tag_a, tag_b = (get_version(ws, name, v).tag for v in (a, b))
    return diff_coco(docs[0], docs[1], a=tag_a, b=tag_b)


def format_diff(diff: VersionDiff, *, max_images: int = 20) -> str:
    """The diff as text for the terminal."""
    lines = [f"{diff.a} -> {diff.b}"]
    for title, items in (("added", diff.images_added), ("removed", diff.images_removed)):
        lines.append(f"images {title}: {len(items)}")
        lines += [f"  {item}" for item in items[:max_images]]
        if len(items) > max_images:
            lines.append(f"  ... and {len(items) - max_images} more")
    rows = diff.to_dict()["labels"]
    head = ("label", "added", "removed", "moved", "relabelled away", "relabelled to", "same")
    lines.append("boxes:")
    lines.append("  " + "  ".join(f"{h:>15}" for h in head))
    for label, c in rows.items():
        values = (c["added"], c["removed"], c["moved"], c["relabelled_from"],
                  c["relabelled_to"], c["unchanged"])  # fmt: skip
        lines.append(f"  {label:>15}  " + "  ".join(f"{v:>15}" for v in values))
    for item in diff.to_dict()["relabelled"]:
        lines.append(f"  relabelled {item['from']} -> {item['to']}: {item['boxes']}")
    return "\n".join(lines)
