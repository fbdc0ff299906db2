"""Exemplars for batch runs: crops, and exemplar files (a JSON list of
``{"image": ..., "box": [x, y, w, h], "label": ...}``).

Shared by ``labeler prelabel --exemplars`` and ``scripts/prelabel.py``. Every problem is
reported with the file, the entry index and the field, before any matching starts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeler.matching import XYWH, Exemplar


@dataclass(frozen=True, eq=False)
class ExemplarCrop:
    """An exemplar cut out of its image: ``box`` is in ``crop`` pixels, ``ref`` JSON-able
    provenance (image, box, label, box id) stored beside the proposals it produces."""

    crop: np.ndarray
    box: XYWH
    label: str
    ref: Mapping

    def exemplar(self) -> Exemplar:
        return Exemplar(image=self.crop, box=self.box, label=self.label)


def exemplar_crop(image: np.ndarray, box: XYWH, label: str, *, ref: Mapping) -> ExemplarCrop:
    """Validate an exemplar on its whole image, then keep only the pixels its box covers.

    NCC is invariant to a linear intensity change, so the crop matches like the
    whole-image exemplar even where the value range (uint16) differs. Raises
    ``ValueError`` as :class:`~labeler.matching.Exemplar` does.
    """
    ex = Exemplar(image=image, box=box, label=label)
    x, y, w, h = ex.box
    x0, y0 = int(math.floor(x)), int(math.floor(y))
    x1, y1 = int(math.ceil(x + w)), int(math.ceil(y + h))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1]).copy()
    return ExemplarCrop(crop=crop, box=(x - x0, y - y0, w, h), label=label, ref=dict(ref))


class ExemplarFileError(ValueError):
    """An exemplar file that cannot be used; the message names file, entry and field."""


def _entry_error(path: Path, index: int, field: str, problem: str) -> ExemplarFileError:
    return ExemplarFileError(f"{path}: entry {index}: field {field!r}: {problem}")


def parse_exemplar_file(path: str | Path) -> list[dict]:
    """Read and check the structure of an exemplar file (no image is opened).

    Returns
    -------
    list of dict
        ``{"image": str, "box": (x, y, w, h) floats, "label": str}`` per entry.

    Raises
    ------
    ExemplarFileError
        Unreadable file, invalid JSON, not a list, or a bad entry (index and field named).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExemplarFileError(f"{path}: cannot read exemplar file: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExemplarFileError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ExemplarFileError(
            f"{path}: expected a JSON list of {{image, box, label}} objects, "
            f"got {type(data).__name__}"
        )
    if not data:
        raise ExemplarFileError(f"{path}: the exemplar list is empty")
    entries = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ExemplarFileError(
                f"{path}: entry {i}: expected an object, got {type(entry).__name__}"
            )
        for key in ("image", "box", "label"):
            if key not in entry:
                raise _entry_error(path, i, key, "missing")
        image, box, label = entry["image"], entry["box"], entry["label"]
        if not isinstance(image, str) or not image.strip():
            raise _entry_error(path, i, "image", f"expected a file name, got {image!r}")
        if not isinstance(label, str) or not label.strip():
            raise _entry_error(path, i, "label", f"expected a non-empty string, got {label!r}")
        ok = isinstance(box, list) and len(box) == 4
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
        if not ok or not all(math.isfinite(v) for v in box):
            raise _entry_error(path, i, "box", f"expected [x, y, w, h] numbers, got {box!r}")
        entries.append(
            {"image": image, "box": tuple(float(v) for v in box), "label": label.strip()}
        )
    return entries


def resolve_image(name: str, search_dirs: Sequence[Path]) -> Path | None:
    """``name`` if absolute, else the first ``dir / name`` that exists."""
    candidate = Path(name)
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    for folder in search_dirs:
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def load_exemplar_file(
    path: str | Path,
    *,
    search_dirs: Sequence[str | Path],
    label: str | None = None,
    ref_root: Path | None = None,
) -> list[ExemplarCrop]:
    """Exemplar crops from a JSON file.

    Parameters
    ----------
    path : path-like
        The JSON file.
    search_dirs : sequence of path-like
        Folders a relative ``image`` is looked up in, in order.
    label : str, optional
        Keep only the entries of this label (an error if there are none).
    ref_root : Path, optional
        Stored refs name images relative to this folder when they are inside it.

    Raises
    ------
    ExemplarFileError
        Any bad entry, a missing or unreadable image, a box outside its image.
    """
    from labeler.imageio import read_image  # Pillow plugins load on first use

    path = Path(path)
    entries = parse_exemplar_file(path)
    if label is not None:
        entries_of = [e for e in entries if e["label"] == label]
        if not entries_of:
            known = ", ".join(sorted({e["label"] for e in entries}))
            raise ExemplarFileError(f"{path}: no exemplar has label {label!r} (labels: {known})")
    dirs = [Path(d) for d in search_dirs]
    images: dict[Path, np.ndarray] = {}
    crops = []
    for i, entry in enumerate(entries):
        if label is not None and entry["label"] != label:
            continue
        found = resolve_image(entry["image"], dirs)
        if found is None:
            where = ", ".join(str(d) for d in dirs)
            raise _entry_error(path, i, "image", f"{entry['image']} not found (looked in {where})")
        try:
            if found not in images:
                images[found] = read_image(found)
            ref = {"image": _ref_name(found, ref_root), "box": list(entry["box"])}
            ref["label"] = entry["label"]
            crops.append(exemplar_crop(images[found], entry["box"], entry["label"], ref=ref))
        except ValueError as exc:  # ImageReadError is a ValueError too
            field = "box" if found in images else "image"
            raise _entry_error(path, i, field, str(exc)) from exc
    return crops


def _ref_name(image: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return image.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(image.resolve())
