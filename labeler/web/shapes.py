"""The JSON shapes of the API (a contract: ``/api/v1`` clients read exactly these keys)."""

from __future__ import annotations

from typing import Any

from labeler.store.models import Box, Dataset, Image, LabelClass


def label_json(label: LabelClass) -> dict[str, Any]:
    return {"id": label.id, "name": label.name, "colour": label.colour, "hotkey": label.hotkey}


def box_json(box: Box) -> dict[str, Any]:
    return {
        "id": box.id,
        "image_id": box.image_id,
        "label": box.label.name,
        "label_id": box.label_id,
        "x": box.x,
        "y": box.y,
        "w": box.w,
        "h": box.h,
        "status": box.status,
        "score": box.score,
        "source": box.source,
        "version": box.version,
        "is_exemplar": box.is_exemplar,
        "created_by": box.created_by,
        "decided_by": box.decided_by,
    }


def image_item(image: Image, dataset: Dataset) -> dict[str, Any]:
    """The short form used in listings; ``path`` is relative to the dataset's ``images/``."""
    prefix = dataset.images_dir + "/"
    path = image.path[len(prefix) :] if image.path.startswith(prefix) else image.path
    return {
        "id": image.id,
        "path": path,
        "width": image.width,
        "height": image.height,
        "state": image.state,
    }


def image_state_json(image: Image) -> dict[str, Any]:
    """The answer to a state change (and a state conflict's ``current``)."""
    return {**image_item(image, image.dataset), "version": image.version}
