"""Fixtures of the prelabel tests."""

from __future__ import annotations

import pytest
from helpers import PRELABEL_IMAGES


def _store_exemplars(ws, entries: list[dict], keep: tuple[str, ...] | None) -> None:
    """Store ``entries`` as accepted exemplar boxes; drop images not in ``keep`` (if given)."""
    from sqlalchemy import delete, select

    from labeler.store.models import Box, Image
    from labeler.store.queries import get_dataset, label_by_name

    with ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        prefix = f"{ds.images_dir}/"
        if keep is not None:
            paths = [prefix + name for name in keep]
            s.execute(delete(Image).where(Image.dataset_id == ds.id, Image.path.not_in(paths)))
        for entry in entries:
            image = s.scalar(select(Image).where(Image.path == prefix + entry["image"]))
            x, y, w, h = entry["box"]
            s.add(
                Box(
                    image=image, label=label_by_name(ds, entry["label"]), x=x, y=y, w=w, h=h,
                    status="accepted", source="user", is_exemplar=True, created_by="test",
                )
            )  # fmt: skip


@pytest.fixture
def prelabel_ws(demo_ws, prelabel_exemplars):
    """``demo_ws`` cut down to :data:`PRELABEL_IMAGES` (the files stay on disk), with the
    three ``prelabel_exemplars`` stored as accepted boxes flagged ``is_exemplar``."""
    _store_exemplars(demo_ws, prelabel_exemplars, PRELABEL_IMAGES)
    return demo_ws


@pytest.fixture
def full_prelabel_ws(demo_ws, prelabel_exemplars):
    """All 24 demo images with the three ``prelabel_exemplars`` as exemplar boxes."""
    _store_exemplars(demo_ws, prelabel_exemplars, None)
    return demo_ws
