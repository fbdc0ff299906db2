"""Loading boxes from a ``boxes.csv`` (``image,label,xmin,ymin,xmax,ymax``), e.g. the demo's.

Used by ``scripts/demo`` and the tests to give an ingested dataset ground-truth boxes;
the boxes in ``exemplars.json`` next to the CSV are flagged as exemplars, which is what
``labeler prelabel`` uses by default.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from sqlalchemy import select

from labeler.store.models import Box, Image
from labeler.store.queries import ensure_labels, get_dataset, validate_box
from labeler.workspace import Workspace

DEMO_DIR = Path(__file__).resolve().parents[2] / "datasets" / "demo"
COLUMNS = ("image", "label", "xmin", "ymin", "xmax", "ymax")


def _exemplar_keys(path: Path) -> set[tuple[str, str, tuple[float, ...]]]:
    if not path.is_file():
        return set()
    items = json.loads(path.read_text(encoding="utf-8"))
    return {(e["image"], e["label"], tuple(float(v) for v in e["box"])) for e in items}


def load_boxes_csv(
    ws: Workspace,
    csv_path: str | os.PathLike,
    *,
    dataset: str,
    status: str = "accepted",
    limit_images: int | None = None,
) -> int:
    """Add the boxes of ``csv_path`` to the images of ``dataset`` (``source="import"``).

    ``image`` is relative to the dataset's ``images/``. Only the first ``limit_images``
    images (by name) get boxes when given. Returns the number of boxes added.

    Raises
    ------
    ValueError
        A malformed row (naming the file and line), a box outside its image, or an
        image that is not in the dataset. Nothing is added then.
    """
    csv_path = Path(csv_path)
    exemplars = _exemplar_keys(csv_path.with_name("exemplars.json"))
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{csv_path}: header must be {','.join(COLUMNS)}")
        rows = list(reader)
    names = sorted({r["image"] for r in rows})
    keep = set(names[:limit_images] if limit_images is not None else names)
    added = 0
    with ws.sessions.begin() as s:
        ds = get_dataset(s, dataset)
        labels = {lc.name: lc for lc in ensure_labels(s, ds, sorted({r["label"] for r in rows}))}
        images = {im.path: im for im in s.scalars(select(Image).where(Image.dataset_id == ds.id))}
        for line, row in enumerate(rows, start=2):
            if row["image"] not in keep:
                continue
            image = images.get(f"{ds.images_dir}/{row['image']}")
            if image is None:
                raise ValueError(f"{csv_path}:{line}: image {row['image']!r} not in {dataset!r}")
            try:
                x0, y0, x1, y1 = (float(row[k]) for k in COLUMNS[2:])
                x, y, w, h = validate_box(
                    x0, y0, x1 - x0, y1 - y0, width=image.width, height=image.height
                )
            except ValueError as exc:
                raise ValueError(f"{csv_path}:{line}: {exc}") from None
            s.add(
                Box(image=image, label=labels[row["label"]], x=x, y=y, w=w, h=h, status=status,
                    source="import", created_by=ws.user, updated_by=ws.user,
                    is_exemplar=(row["image"], row["label"], (x, y, w, h)) in exemplars)
            )  # fmt: skip
            added += 1
    return added


def load_demo_boxes(
    ws: Workspace,
    dataset: str = "demo",
    *,
    status: str = "accepted",
    limit_images: int | None = None,
) -> int:
    """Load the bundled ``datasets/demo/boxes.csv`` into ``dataset``; see :func:`load_boxes_csv`."""
    return load_boxes_csv(
        ws, DEMO_DIR / "boxes.csv", dataset=dataset, status=status, limit_images=limit_images
    )
