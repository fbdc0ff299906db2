"""The read queries behind the annotator's review listing, position, jump and grid counts,
on SQLite and PostgreSQL (portable SQL: NULLS LAST, escaped LIKE)."""

from __future__ import annotations

from test_store import image_id  # noqa: F401  (fixture)

from labeler.store import browsing
from labeler.store.models import Box, Dataset, Image


def add(s, image, label, x, y, status="proposed", score=None):
    s.add(Box(image_id=image, label_id=label, x=x, y=y, w=10, h=10, status=status, score=score))


def test_review_order_and_cut(sessions, image_id):  # noqa: F811
    with sessions.begin() as s:
        label = s.get(Image, image_id).dataset.labels[0].id
        rows = [(50, 50, 0.4), (400, 300, 0.95), (100, 300, 0.7), (300, 50, 0.7), (1, 1, None)]
        for x, y, score in rows:
            add(s, image_id, label, x, y, score=score)
        add(s, image_id, label, 5, 5, status="accepted")
    with sessions() as s:
        got = browsing.image_boxes(s, image_id, status="proposed", order="review")
        assert [(b.x, b.y) for b in got] == [(400, 300), (300, 50), (100, 300), (50, 50), (1, 1)]
        cut = browsing.image_boxes(s, image_id, min_score=0.6, order="review")
        # Unscored proposals and decided boxes always pass the cut.
        assert [(b.x, b.status) for b in cut] == [
            (400, "proposed"), (300, "proposed"), (100, "proposed"), (1, "proposed"),
            (5, "accepted"),
        ]  # fmt: skip


def test_position_jump_and_counts(sessions, image_id):  # noqa: F811
    with sessions.begin() as s:
        first = s.get(Image, image_id)
        ds = s.get(Dataset, first.dataset_id)
        names = ["b_2.png", "c%_3.png", "d_4.png"]
        others = [
            Image(dataset=ds, path=f"datasets/cells/images/{n}", sha256=str(i) * 64, width=64,
                  height=64, format="png")
            for i, n in enumerate(names, start=1)
        ]  # fmt: skip
        s.add_all(others)
        s.flush()
        ids = [image_id, *(im.id for im in others)]
        label = ds.labels[0].id
        add(s, ids[1], label, 1, 1, status="accepted")
        add(s, ids[1], label, 2, 2, score=0.5)
        add(s, ids[1], label, 3, 3, status="rejected")
    with sessions() as s:
        images = [s.get(Image, i) for i in ids]
        assert [browsing.image_position(s, im) for im in images] == [1, 2, 3, 4]
        ds_id = images[0].dataset_id
        assert [browsing.image_at(s, ds_id, n) for n in (1, 3, 5)] == [ids[0], ids[2], None]
        assert browsing.image_named(s, ds_id, "d_4.png") == ids[3]
        assert browsing.image_named(s, ds_id, "c%") == ids[2]  # % is a character, not a wildcard
        assert browsing.image_named(s, ds_id, "%") == ids[2]
        assert browsing.image_named(s, ds_id, "zzz") is None
        counts = browsing.box_counts(s, ids[:2])
        assert counts == {ids[0]: {"accepted": 0, "proposed": 0},
                          ids[1]: {"accepted": 1, "proposed": 1}}  # fmt: skip
