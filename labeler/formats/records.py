"""Plain records between the store and the format modules.

The exporters are pure functions of a :class:`DatasetRecord`; the parsers
return one. Only :func:`load_records` (here) and :mod:`labeler.exchange.imports`
touch the database, so every format can be tested without one.

Boxes are ``(x, y, w, h)`` floats in pixels of the displayed image, top-left
origin, like :class:`labeler.store.models.Box`. Image paths are POSIX paths
relative to the dataset's ``images/`` folder.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labeler.states import FINISHED_STATES

if TYPE_CHECKING:  # the format modules must not pay for SQLAlchemy
    from labeler.workspace import Workspace

EXPORTED_STATUSES = ("accepted", "proposed")  # rejected boxes never leave the store


class FormatError(ValueError):
    """A file that cannot be read as the format it claims: names the file and the field."""

    def __init__(self, path: object, where: str, problem: str) -> None:
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


@dataclass(frozen=True)
class BoxRecord:
    """One box; ``status`` is ``accepted`` (annotation) or ``proposed`` (prediction)."""

    label: str
    x: float
    y: float
    w: float
    h: float
    status: str = "accepted"
    score: float | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    """One image; ``state`` is None when a parsed file does not say (e.g. YOLO)."""

    path: str
    width: int
    height: int
    state: str | None = "done"
    boxes: tuple[BoxRecord, ...] = ()
    image_id: int | None = None  # the store's id, when loaded from a store

    @property
    def accepted(self) -> tuple[BoxRecord, ...]:
        return tuple(b for b in self.boxes if b.status == "accepted")

    @property
    def proposed(self) -> tuple[BoxRecord, ...]:
        return tuple(b for b in self.boxes if b.status == "proposed")


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset: label names in class order, their colours, and its images."""

    name: str
    labels: tuple[str, ...]
    images: tuple[ImageRecord, ...]
    colours: Mapping[str, str] = field(default_factory=dict)
    # Set by parsers of formats that store less (YOLO): boxes in fractions of the image
    # size, image paths without their extension; the importer fills in from the store.
    normalized: bool = False
    paths_without_suffix: bool = False
    notes: tuple[str, ...] = ()  # what a parser had to leave out, for the user to read

    def label_index(self) -> dict[str, int]:
        """Label name -> 0-based class index (YOLO class, COCO id - 1)."""
        return {name: i for i, name in enumerate(self.labels)}


def model_version_of(params: Mapping | None) -> str | None:
    """The model version behind a proposal: an import's ``model_version`` or the matcher's."""
    if not params:
        return None
    value = params.get("model_version") or params.get("version")
    return str(value) if value is not None else None


def load_records(ws: Workspace, dataset_name: str, *, done_only: bool = False) -> DatasetRecord:
    """Read a dataset from the store: images by path, accepted and proposed boxes.

    Parameters
    ----------
    ws : Workspace
    dataset_name : str
    done_only : bool
        Only finished images (``done``, ``empty``, ``approved``: a release); otherwise every
        image, with whatever accepted boxes and proposals it has so far.
    """
    from sqlalchemy import select

    from labeler.store.models import Box, Image, LabelClass
    from labeler.store.queries import get_dataset

    with ws.sessions() as s:
        dataset = get_dataset(s, dataset_name)
        labels = tuple(label.name for label in dataset.labels)
        colours = {label.name: label.colour for label in dataset.labels}
        prefix = f"{dataset.images_dir}/"
        img_q = select(Image.id, Image.path, Image.width, Image.height, Image.state).where(
            Image.dataset_id == dataset.id
        )
        box_q = (
            select(Box.image_id, LabelClass.name, Box.x, Box.y, Box.w, Box.h, Box.status)
            .add_columns(Box.score, Box.params)
            .join(LabelClass, Box.label_id == LabelClass.id)
            .join(Image, Box.image_id == Image.id)
            .where(Image.dataset_id == dataset.id, Box.status.in_(EXPORTED_STATUSES))
            .order_by(Box.image_id, Box.id)
        )
        if done_only:
            img_q = img_q.where(Image.state.in_(FINISHED_STATES))
        boxes: dict[int, list[BoxRecord]] = defaultdict(list)
        for image_id, label, x, y, w, h, status, score, params in s.execute(box_q):
            boxes[image_id].append(
                BoxRecord(label, x, y, w, h, status, score, model_version_of(params))
            )
        images = []
        for image_id, path, width, height, state in s.execute(img_q.order_by(Image.path)):
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            # A confirmed-empty image exports as empty even if stale boxes linger.
            own = () if state == "empty" else tuple(boxes.get(image_id, ()))
            images.append(ImageRecord(rel, width, height, state, own, image_id))
    return DatasetRecord(dataset.name, labels, tuple(images), colours)


def number(value: object, path: object, where: str) -> float:
    """``value`` as a finite float, else a :class:`FormatError` naming ``where``."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise FormatError(path, where, f"not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(path, where, f"not a number: {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise FormatError(path, where, f"not a finite number: {value!r}")
    return float(value)


def read_json(file: Path) -> Any:
    """The JSON document in ``file``; a missing or malformed file is a :class:`FormatError`."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(file, "", "no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(file, "", f"not valid JSON: {exc}") from None
