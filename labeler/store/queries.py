"""Queries, validations and the domain errors shared by ingest, prelabel, the web API,
formats and checks. ``labeler.web.errors`` maps the errors to HTTP statuses in one place."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError as StaleRow  # noqa: F401 - for labeler.web.errors

from labeler.store.models import Dataset, LabelClass

T = TypeVar("T")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LABEL_NAME = 200

# Distinct colours (Sasha Trubetskoy's list) so neighbouring classes never look alike.
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324",
)  # fmt: skip


class NotFound(LookupError):
    """A named dataset, image, box or label does not exist."""


class InvalidBox(ValueError):
    """Box coordinates that cannot describe a box inside its image."""


class InvalidInput(ValueError):
    """Well-formed but invalid values (an unknown status, a score outside [0, 1], ...)."""


class UnknownLabel(NotFound, InvalidInput):
    """A label named in a write or a filter: the request is invalid, not the URL."""


class Conflict(Exception):
    """A write lost a race or named a stale ``version``; ``current`` is the row as it now
    is (None when it is gone), detached so it can still be read after the rollback."""

    def __init__(self, detail: str, *, current: Any = None) -> None:
        super().__init__(detail)
        self.current = current


def require(session: Session, model: type[T], ident: int) -> T:
    """The row of ``model`` with id ``ident``; :class:`NotFound` naming the table otherwise."""
    obj = session.get(model, ident)
    if obj is None:
        raise NotFound(f"no {model.__tablename__} with id {ident}")
    return obj


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
    out = []
    for name in names:
        name = _label_name(name)
        if name not in existing:
            key = next_hotkey(existing.values())
            colour = PALETTE[len(existing) % len(PALETTE)]
            existing[name] = LabelClass(dataset=dataset, name=name, colour=colour, hotkey=key)
            session.add(existing[name])
        out.append(existing[name])
    session.flush()
    return out


def next_hotkey(labels: Iterable[LabelClass]) -> int | None:
    """The lowest hotkey 1-9 no label uses, or None when all nine are taken."""
    used = {label.hotkey for label in labels}
    return next((k for k in range(1, 10) if k not in used), None)


def label_by_name(dataset: Dataset, name: str) -> LabelClass:
    """The dataset's label ``name``; :class:`UnknownLabel` listing the known ones otherwise."""
    for label in dataset.labels:
        if label.name == name:
            return label
    known = ", ".join(label.name for label in dataset.labels) or "none"
    raise UnknownLabel(f"unknown label {name!r} in dataset {dataset.name!r} (labels: {known})")


def find_label(
    dataset: Dataset, *, name: str | None = None, label_id: int | None = None
) -> LabelClass | None:
    """The label a request names by ``label_id`` (preferred) or ``name``; None for neither."""
    if label_id is not None:
        for label in dataset.labels:
            if label.id == label_id:
                return label
        raise UnknownLabel(f"label_id {label_id} is not a label of dataset {dataset.name!r}")
    return None if name is None else label_by_name(dataset, name)


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


# Control (Cc), format (Cf: bidi overrides such as U+202E, zero-width joiners), private-use,
# surrogate, unassigned and line/paragraph separators: a name holding one can display as
# something else than it is ("\u202egnp.exe" shows as "exe.png") or not at all.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def _label_name(name: str) -> str:
    """The one rule for label names (ingest, CLI, web): 1-200 visible characters."""
    name = name.strip()
    if not name:
        raise InvalidInput("label names must not be empty")
    if len(name) > MAX_LABEL_NAME:
        raise InvalidInput(
            f"label name must be 1-{MAX_LABEL_NAME} printable characters, got {name!r}"
        )
    hidden = next((c for c in name if unicodedata.category(c) in INVISIBLE_CATEGORIES), None)
    if hidden is not None:
        raise InvalidInput(
            f"label name {name!r} contains the invisible or control character "
            f"U+{ord(hidden):04X} ({unicodedata.name(hidden, 'unnamed')}); "
            "use printable characters only"
        )
    return name


def _check_label(
    dataset: Dataset, label: LabelClass | None, name: str | None, colour: str | None, hotkey
) -> None:
    if colour is not None and not COLOUR.match(colour):
        raise InvalidInput(f"colour must be a CSS hex colour like '#1f77b4', got {colour!r}")
    others = [lab for lab in dataset.labels if lab is not label]
    if name is not None and any(lab.name == name for lab in others):
        raise InvalidInput(f"dataset {dataset.name!r} already has a label named {name!r}")
    if hotkey is not None:
        if isinstance(hotkey, bool) or not isinstance(hotkey, int) or not 1 <= hotkey <= 9:
            raise InvalidInput(f"hotkey must be an integer 1-9 or null, got {hotkey!r}")
        taken = [lab.name for lab in others if lab.hotkey == hotkey]
        if taken:
            raise InvalidInput(f"hotkey {hotkey} is already used by label {taken[0]!r}")


_AUTO = object()  # "not given": the next free hotkey (None would mean "no hotkey")


def add_label(
    session: Session, *, dataset_id: int, name: str, colour: str | None = None, hotkey=_AUTO
) -> LabelClass:
    """A new label class; without ``hotkey`` it gets the next free one, as at ingest."""
    ds = require(session, Dataset, dataset_id)
    name = _label_name(name)
    key = next_hotkey(ds.labels) if hotkey is _AUTO else hotkey
    _check_label(ds, None, name, colour, key)
    colour = colour or PALETTE[len(ds.labels) % len(PALETTE)]
    label = LabelClass(dataset=ds, name=name, colour=colour, hotkey=key)
    session.add(label)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request added the same name
        raise InvalidInput(f"dataset {ds.name!r} already has a label named {name!r}") from None
    return label


def edit_label(
    session: Session,
    *,
    label_id: int,
    name: str | None = None,
    colour: str | None = None,
    hotkey=_AUTO,
) -> LabelClass:
    """Rename, recolour or re-key a label; ``hotkey=None`` removes its key, omitted keeps it."""
    label = require(session, LabelClass, label_id)
    name = None if name is None else _label_name(name)
    _check_label(label.dataset, label, name, colour, None if hotkey is _AUTO else hotkey)
    if name is not None:
        label.name = name
    if colour is not None:
        label.colour = colour
    if hotkey is not _AUTO:
        label.hotkey = hotkey
    try:
        session.flush()
    except IntegrityError:
        raise InvalidInput(f"label name {name!r} is already used in this dataset") from None
    return label
