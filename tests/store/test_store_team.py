"""Migration 0005 and the team queries: rows survive the upgrade (SQLite rebuilds
``image`` without cascading to its boxes), the states and roles the database accepts,
decided_by, image events and the Team page's figures; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from labeler.store import Account, Base, Box, Dataset, Image, ImageEvent, make_engine, migrate
from labeler.store import boxes as box_writes
from labeler.store.db import alembic_config
from labeler.store.figures import team_figures
from labeler.store.queries import ensure_labels


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at_0004(request, tmp_path):
    """A database migrated to 0004 holding one dataset, image and box."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.execute(text("INSERT INTO dataset (id, name, created_at) VALUES (1, 'd', :t)"),
                     {"t": datetime.now(UTC)})  # fmt: skip
        conn.execute(text("INSERT INTO label_class (id, dataset_id, name, colour) "
                          "VALUES (1, 1, 'RBC', '#000000')"))  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO image (id, dataset_id, path, sha256, width, height, "
                "format, state, created_at, updated_at, version) VALUES (1, 1, 'p', "
                "'s', 64, 64, 'png', 'done', :t, :t, 1)"
            ),
            {"t": datetime.now(UTC)},
        )
        conn.execute(text("INSERT INTO box (id, image_id, label_id, x, y, w, h, status, "
                          "source, is_exemplar, created_at, updated_at, version, created_by) "
                          "VALUES (1, 1, 1, 1, 1, 9, 9, 'accepted', 'user', false, :t, :t, 1, "
                          "'ann')"), {"t": datetime.now(UTC)})  # fmt: skip
    yield engine
    engine.dispose()


def test_upgrade_keeps_every_row_and_accepts_approved(engine_at_0004):
    migrate(engine_at_0004)
    with engine_at_0004.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM box")).scalar() == 1
        assert conn.execute(text("SELECT decided_by FROM box")).scalar() is None
        conn.execute(text("UPDATE image SET state = 'approved'"))
    with pytest.raises(IntegrityError), engine_at_0004.begin() as conn:
        conn.execute(text("UPDATE image SET state = 'signed-off'"))
    with pytest.raises(IntegrityError), engine_at_0004.begin() as conn:
        conn.execute(text("INSERT INTO account (name, role, password_hash, created_at) "
                          "VALUES ('x', 'boss', 'h', :t)"), {"t": datetime.now(UTC)})  # fmt: skip
    if engine_at_0004.dialect.name == "sqlite":
        with engine_at_0004.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.fixture
def image_ids(sessions):
    with sessions.begin() as s:
        ds = Dataset(name="cells")
        s.add(ds)
        ensure_labels(s, ds, ["RBC"])
        images = [Image(dataset=ds, path=f"datasets/cells/images/{i}.png", sha256="0" * 64,
                        width=640, height=480, format="png") for i in range(3)]  # fmt: skip
        s.add_all(images)
        s.flush()
        return [im.id for im in images]


def test_decided_by_follows_each_decision(sessions, image_ids):
    with sessions.begin() as s:
        box = box_writes.create_box(s, image_id=image_ids[0], x=1, y=1, w=9, h=9, who="bot",
                                    label="RBC", status="proposed", source="matcher")  # fmt: skip
        assert (box.created_by, box.decided_by) == ("bot", None)
        (box,) = box_writes.decide_boxes(s, ids=[box.id], status="accepted", who="ann")
        assert box.decided_by == "ann"
        box = box_writes.patch_box(s, box_id=box.id, version=box.version, who="bob", x=2)
        assert box.decided_by == "ann"  # a move is not a decision
        box = box_writes.patch_box(s, box_id=box.id, version=box.version, who="bob",
                                   status="proposed")  # fmt: skip
        assert box.decided_by is None  # an undo


def test_review_events_and_figures(sessions, image_ids):
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with sessions.begin() as s:
        s.add(Account(name="ann", role="annotator", password_hash="x"))
        for image_id in image_ids:
            box_writes.create_box(s, image_id=image_id, x=1, y=1, w=9, h=9, who="ann",
                                  label="RBC")  # fmt: skip
            box_writes.set_image_state(s, image_id=image_id, state="done", who="ann")
        box_writes.set_image_state(s, image_id=image_ids[2], state="done", who="ann")  # again
        box_writes.set_image_state(s, image_id=image_ids[0], state="approved", who="rita")
        box_writes.set_image_state(s, image_id=image_ids[1], state="in_progress", who="rita",
                                   comment="missed one")  # fmt: skip
        events = s.scalars(select(ImageEvent).order_by(ImageEvent.id)).all()
        assert [(e.kind, e.actor, e.subject) for e in events] == [
            ("done", "ann", None), ("done", "ann", None), ("done", "ann", None),
            ("approved", "rita", "ann"), ("sent_back", "rita", "ann"),
        ]  # fmt: skip
        # finishes 40 s apart, then a 20-minute pause that is not work
        for event, minutes in zip(events[:3], (0, 40 / 60, 20), strict=True):
            event.at = t0 + timedelta(minutes=minutes)
    with sessions() as s:
        rows = {f.name: f for f in team_figures(s)}
    ann = rows["ann"]
    assert (ann.role, ann.images_done, ann.boxes_drawn) == ("annotator", 3, 3)
    assert (ann.approved, ann.sent_back, ann.approval_rate) == (1, 1, 0.5)
    assert ann.seconds_per_image == pytest.approx(40.0)
    rita = rows["rita"]
    assert (rita.role, rita.images_done, rita.images_reviewed) == (None, 0, 2)
    with sessions() as s:
        assert s.scalar(select(Box.decided_by).limit(1)) == "ann"
