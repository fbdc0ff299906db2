"""labeler.ingest: folders and archives into a dataset, every bad case refused by name."""

from __future__ import annotations

from sqlalchemy import func, select

from labeler.ingest import load_demo_boxes
from labeler.store.models import Box, Dataset, Image


def test_demo_ws_has_the_demo_dataset(demo_ws):
    with demo_ws.sessions() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == "demo"))
        assert [(lc.name, lc.hotkey) for lc in ds.labels] == [
            ("RBC", 1),
            ("WBC", 2),
            ("Platelets", 3),
        ]
        images = s.scalars(select(Image).order_by(Image.path)).all()
    assert len(images) == 24
    assert all(im.path.startswith("datasets/demo/images/") for im in images)
    assert all((im.width, im.height, im.format) == (640, 480, "jpeg") for im in images)
    assert all(demo_ws.abspath(im.path).is_file() for im in images)


def test_demo_ws_copies_are_independent(demo_ws):
    assert load_demo_boxes(demo_ws) == 566
    with demo_ws.sessions() as s:
        assert s.scalar(select(func.count(Box.id))) == 566
        assert s.scalar(select(func.count(Box.id)).where(Box.is_exemplar)) == 5


def test_demo_ws_starts_without_boxes(demo_ws):
    with demo_ws.sessions() as s:
        assert s.scalar(select(func.count(Box.id))) == 0


def test_load_demo_boxes_limit_images(demo_ws):
    added = load_demo_boxes(demo_ws, status="proposed", limit_images=2)
    with demo_ws.sessions() as s:
        statuses = set(s.scalars(select(Box.status)))
        n_images = s.scalar(select(func.count(func.distinct(Box.image_id))))
    assert 0 < added < 566
    assert statuses == {"proposed"} and n_images == 2
