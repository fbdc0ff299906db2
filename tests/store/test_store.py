"""The store: migrations, constraints, optimistic concurrency, shared queries."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from labeler.store import (
    Base,
    Box,
    Dataset,
    Image,
    LabelClass,
    make_engine,
    migrate,
)
from labeler.store.queries import (
    InvalidBox,
    NotFound,
    ensure_labels,
    get_dataset,
    label_by_name,
    validate_box,
)


@pytest.fixture
def image_id(sessions):
    with sessions.begin() as s:
        ds = Dataset(name="cells")
        s.add(ds)
        ensure_labels(s, ds, ["RBC", "WBC"])
        img = Image(
            dataset=ds, path="datasets/cells/images/a/1.png", sha256="0" * 64,
            width=640, height=480, format="png",
        )  # fmt: skip
        s.add(img)
        s.flush()
        return img.id


def test_migrations_create_every_table_and_are_rerunnable(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # a second run is a no-op, not an error
    tables = set(inspect(engine).get_table_names())
    assert {"dataset", "label_class", "image", "box", "job", "alembic_version"} <= tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_rel_path_and_labels(sessions, image_id):
    with sessions() as s:
        img = s.get(Image, image_id)
        assert img.rel_path == "a/1.png"
        labels = img.dataset.labels
        assert [(lab.name, lab.hotkey) for lab in labels] == [("RBC", 1), ("WBC", 2)]
        assert labels[0].colour != labels[1].colour
        assert label_by_name(img.dataset, "WBC").name == "WBC"
        with pytest.raises(NotFound, match="unknown label 'Nope'.*RBC, WBC"):
            label_by_name(img.dataset, "Nope")
        with pytest.raises(NotFound, match="no dataset named 'x'.*cells"):
            get_dataset(s, "x")


def test_ensure_labels_is_idempotent_and_refuses_empty(sessions, image_id):
    with sessions.begin() as s:
        ds = get_dataset(s, "cells")
        again = ensure_labels(s, ds, ["WBC", "Platelets"])
        assert [lab.hotkey for lab in again] == [2, 3]
        with pytest.raises(ValueError, match="empty"):
            ensure_labels(s, ds, [" "])
    with sessions() as s:
        assert s.scalars(select(LabelClass.name).order_by(LabelClass.id)).all() == [
            "RBC",
            "WBC",
            "Platelets",
        ]


def test_stale_box_update_is_refused(sessions, image_id):
    with sessions.begin() as s:
        img = s.get(Image, image_id)
        box = Box(image=img, label=img.dataset.labels[0], x=1, y=2, w=10, h=10)
        s.add(box)
    # Two "tabs" load the same box; the second writer must lose, not overwrite.
    tab1, tab2 = sessions(), sessions()
    b1, b2 = tab1.get(Box, box.id), tab2.get(Box, box.id)
    b1.x = 5
    tab1.commit()
    b2.x = 7
    with pytest.raises(StaleDataError):
        tab2.commit()
    tab1.close()
    tab2.close()
    with sessions() as s:
        fresh = s.get(Box, box.id)
        assert (fresh.x, fresh.version) == (5, 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "maybe"), ("source", "robot")],
)
def test_box_enums_are_checked_by_the_database(sessions, image_id, field, value):
    with pytest.raises(IntegrityError), sessions.begin() as s:
        img = s.get(Image, image_id)
        s.add(Box(image=img, label=img.dataset.labels[0], x=1, y=2, w=3, h=4, **{field: value}))


def test_deleting_a_dataset_cascades(sessions, image_id):
    with sessions.begin() as s:
        img = s.get(Image, image_id)
        s.add(Box(image=img, label=img.dataset.labels[0], x=1, y=2, w=3, h=4))
    with sessions.begin() as s:
        s.delete(get_dataset(s, "cells"))
    with sessions() as s:
        assert s.scalars(select(Box)).all() == []
        assert s.scalars(select(Image)).all() == []


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((0, 0, 0.5, 10), "at least 1"),
        ((0, 0, 10, -1), "at least 1"),
        ((math.nan, 0, 10, 10), "x must be finite"),
        ((0, math.inf, 10, 10), "y must be finite"),
        ((0, 0, "10", 10), "w must be a number"),
        ((0, 0, 10, True), "h must be a number"),
        ((635, 0, 10, 10), "outside the 640x480 image"),
        ((-3, 0, 10, 10), "outside"),
        ((0, 475, 10, 10), "outside"),
    ],
)
def test_validate_box_rejects(box, message):
    with pytest.raises(InvalidBox, match=message):
        validate_box(*box, width=640, height=480)


@pytest.mark.parametrize("box", [(0, 0, 640, 480), (-0.4, 0, 10, 10), (630.2, 470, 10.1, 10)])
def test_validate_box_accepts(box):
    assert validate_box(*box, width=640, height=480) == tuple(float(v) for v in box)


def test_a_label_in_use_cannot_be_deleted(sessions, image_id):
    with sessions.begin() as s:
        img = s.get(Image, image_id)
        s.add(Box(image=img, label=img.dataset.labels[0], x=1, y=2, w=3, h=4))
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.delete(s.get(Image, image_id).dataset.labels[0])
    with sessions() as s:
        assert len(s.scalars(select(Box)).all()) == 1


def test_models_match_the_migrations(tmp_path):
    # A model change without its Alembic revision (or the reverse) must fail here.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_pid_alive():
    import os
    import subprocess
    import sys

    from labeler.store.jobs import pid_alive

    assert pid_alive(os.getpid())
    assert not pid_alive(None) and not pid_alive(0)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)  # reaped: the pid no longer exists
