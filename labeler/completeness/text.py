"""Terminal rendering of a :class:`labeler.completeness.CompletenessReport`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labeler.completeness.report import CompletenessReport
    from labeler.completeness.sql import Row

SEVERITY_TAG = {"blocker": "BLOCKS", "warning": "warning", "info": ""}


def format_text(report: CompletenessReport) -> str:
    """A plain-text report: counts, the first items behind each, labels, and the verdict."""
    img, box = report.images, report.boxes
    lines = [
        f"Dataset {report.dataset!r}: {img['total']} images (new {img['new']}, "
        f"in progress {img['in_progress']}, done {img['done']}, empty {img['empty']}); "
        f"{box['total']} boxes ({box['accepted']} accepted, {box['proposed']} proposed, "
        f"{box['rejected']} rejected)",
        "",
    ]
    for check in report.checks:
        if not check.checked or not check.count:
            continue
        tag = SEVERITY_TAG[check.severity]
        lines.append(f"{tag:8} {check.title}: {check.count}")
        if check.severity == "info":
            continue  # done and empty images are decisions, not gaps: no list
        lines.extend(f"    {_item(row)}" for row in check.items)
        if check.truncated:
            lines.append(f"    ... and {check.count - len(check.items)} more (--limit N or --json)")
    if not report.settings.get("verify_files"):
        lines.append("         files not verified (--verify-files hashes every image)")
    lines += ["", "Labels: accepted boxes, images, proposed"]
    width = max((len(s.name) for s in report.labels), default=0)
    minimum = report.settings.get("min_per_label")
    for s in report.labels:
        low = f"  warning: under the minimum of {minimum}" if s.below_minimum else ""
        lines.append(f"  {s.name:{width}}  {s.accepted:7}  {s.images:6}  {s.proposed:7}{low}")
    if not report.labels:
        lines.append("  (no labels)")
    lines.append("")
    if report.blocking:
        lines.append("NOT READY for release: " + "; ".join(report.blockers))
    else:
        lines.append("Ready for release: nothing blocks it.")
    return "\n".join(lines)


def _item(row: Row) -> str:
    parts = [row.path or ""]
    if row.box_id is not None:
        parts.append(f"box {row.box_id}")
    elif row.image_id is not None:
        parts.append(f"image {row.image_id}")
    if row.label is not None:
        parts.append(row.label)
    if row.detail:
        parts.append(row.detail)
    return "  ".join(p for p in parts if p)
