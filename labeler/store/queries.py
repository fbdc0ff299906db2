"""Queries and validations shared by ingest, prelabel, the web API, formats and checks."""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler.store.models import Dataset, LabelClass

# Distinct colours (Sasha Trubetskoy's list) so neighbouring classes never look alike.
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324",
)  # fmt: skip


class NotFound(LookupError):
    """A named dataset, image, box or label does not exist."""


class InvalidBox(ValueError):
    """Box coordinates that cannot describe a box inside its image."""


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        known = ", ".join(session.scalars(select(Dataset.name).order_by(Dataset.name))) or "none"
        raise NotFound(f"no dataset named {name!r} (datasets: {known})")
    return dataset


def get_or_create_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        dataset = Dataset(name=name)
        session.add(dataset)
        session.flush()
    return dataset


def ensure_labels(session: Session, dataset: Dataset, names: Iterable[str]) -> list[LabelClass]:
    """Return the dataset's label classes for ``names``, creating missing ones.

    New classes get the next palette colour and the next free hotkey 1-9.
    """
    existing = {label.name: label for label in dataset.labels}
    used_keys = {label.hotkey for label in dataset.labels}
    out = []
    for name in names:
        name = name.strip()
        if not name:
            raise ValueError("label names must not be empty")
        if name not in existing:
            key = next((k for k in range(1, 10) if k not in used_keys), None)
            used_keys.add(key)
            colour = PALETTE[len(existing) % len(PALETTE)]
            existing[name] = LabelClass(dataset=dataset, name=name, colour=colour, hotkey=key)
            session.add(existing[name])
        out.append(existing[name])
    session.flush()
    return out


def label_by_name(dataset: Dataset, name: str) -> LabelClass:
    for label in dataset.labels:
        if label.name == name:
            return label
    known = ", ".join(label.name for label in dataset.labels) or "none"
    raise NotFound(f"unknown label {name!r} in dataset {dataset.name!r} (labels: {known})")


def validate_box(
    x: float, y: float, w: float, h: float, *, width: int, height: int, min_size: float = 1.0
) -> tuple[float, float, float, float]:
    """Check a box ``(x, y, w, h)`` in pixels against an image of ``width`` x ``height``.

    Returns the box as floats; raises :class:`InvalidBox` naming the bad field.
    """
    values = {"x": x, "y": y, "w": w, "h": h}
    for field, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidBox(f"{field} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidBox(f"{field} must be finite, got {value!r}")
    if w < min_size or h < min_size:
        raise InvalidBox(f"w and h must be at least {min_size} px, got w={w}, h={h}")
    # Half a pixel of slack: boxes drawn to the edge may round just past it.
    if x < -0.5 or y < -0.5 or x + w > width + 0.5 or y + h > height + 0.5:
        raise InvalidBox(
            f"box (x={x}, y={y}, w={w}, h={h}) lies outside the {width}x{height} image"
        )
    return float(x), float(y), float(w), float(h)
