"""Pixel boxes to Label Studio JSON (rectangle results and prediction tasks).

Label Studio stores rectangles in percent of the image size, top-left
origin, with the original size beside them. One function converts one box;
the other builds one importable task with one prediction. Used by ``labeler
match --format labelstudio``, the exporter and the pre-labeler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Names of the <RectangleLabels> and <Image> tags in the labeling config.
FROM_NAME = "label"
TO_NAME = "image"


def ls_rect_result(
    box: Sequence[float],
    label: str,
    width: int,
    height: int,
    *,
    score: float | None = None,
    id: str | None = None,  # noqa: A002 - Label Studio's own key name
) -> dict[str, Any]:
    """One Label Studio ``rectanglelabels`` result for a pixel box.

    Parameters
    ----------
    box : (x, y, w, h)
        Pixels of the displayed image, top-left origin, x = column.
    label : str
    width, height : int
        Displayed image size in pixels (``original_width``/``original_height``).
    score : float, optional
        Added as ``"score"`` (predictions).
    id : str, optional
        Result id, to relate results; Label Studio makes one if absent.

    Returns
    -------
    dict
        ``{"from_name", "to_name", "type", "original_width", "original_height",
        "image_rotation", "value": {x, y, width, height, rotation,
        rectanglelabels}}`` with value coordinates in percent (0-100).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x, y, w, h = (float(v) for v in box)
    result: dict[str, Any] = {
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "rectanglelabels",
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {
            "x": 100.0 * x / width,
            "y": 100.0 * y / height,
            "width": 100.0 * w / width,
            "height": 100.0 * h / height,
            "rotation": 0,
            "rectanglelabels": [str(label)],
        },
    }
    if id is not None:
        result["id"] = str(id)
    if score is not None:
        result["score"] = float(score)
    return result


def _fields(p: Any) -> tuple[Sequence[float], str, float | None]:
    """(box, label, score) from a Proposal-like object or a mapping."""
    if isinstance(p, Mapping):
        return p["box"], p["label"], p.get("score")
    return p.box, p.label, getattr(p, "score", None)


def ls_prediction_task(
    image_ref: str,
    width: int,
    height: int,
    proposals: Iterable[Any],
    *,
    model_version: str | None = None,
) -> dict[str, Any]:
    """A Label Studio task with one prediction made of ``proposals``.

    Parameters
    ----------
    image_ref : str
        What Label Studio loads the image from (URL or storage path), put in
        ``data.image``.
    width, height : int
        Displayed image size in pixels.
    proposals : iterable
        :class:`labeler.matching.Proposal` objects, or mappings with
        ``box``, ``label`` and optional ``score``.
    model_version : str, optional
        Defaults to :data:`labeler.matching.MATCHER_VERSION`.

    Returns
    -------
    dict
        ``{"data": {"image": image_ref}, "predictions": [{"model_version",
        "score", "result": [...]}]}``; the prediction score is the mean of
        the result scores (0 when there are none).
    """
    if model_version is None:
        from labeler.matching.engine import MATCHER_VERSION

        model_version = MATCHER_VERSION
    results, scores = [], []
    for i, p in enumerate(proposals):
        box, label, score = _fields(p)
        results.append(ls_rect_result(box, label, width, height, score=score, id=f"p{i}"))
        if score is not None:
            scores.append(float(score))
    return {
        "data": {"image": image_ref},
        "predictions": [
            {
                "model_version": model_version,
                "score": sum(scores) / len(scores) if scores else 0.0,
                "result": results,
            }
        ],
    }
