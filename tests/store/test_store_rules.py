"""The store's shared rules: which boxes rule out a proposal, orphaned jobs, labels,
box writes with optimistic concurrency."""

from __future__ import annotations

import os
import re

import pytest

from labeler.matching import Proposal
from labeler.store import Dataset, Image, Job, make_engine, migrate, session_factory
from labeler.store import boxes as box_store
from labeler.store.jobs import fail_orphaned, owner
from labeler.store.proposals import drop_decided, matcher_exclusions
from labeler.store.queries import (
    Conflict,
    InvalidInput,
    NotFound,
    UnknownLabel,
    add_label,
    edit_label,
    ensure_labels,
    find_label,
    next_hotkey,
)


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def image_id(sessions):
    with sessions.begin() as s:
        ds = Dataset(name="cells")
        s.add(ds)
        ensure_labels(s, ds, ["RBC", "WBC"])
        img = Image(
            dataset=ds, path="datasets/cells/images/1.png", sha256="0" * 64,
            width=100, height=100, format="png",
        )  # fmt: skip
        s.add(img)
        s.flush()
        return img.id


def test_one_rule_accepted_blocks_every_label_rejected_only_its_own():
    standing = [("RBC", "accepted", (0, 0, 10, 10)), ("WBC", "rejected", (50, 50, 10, 10))]
    props = [
        Proposal((1, 1, 10, 10), "WBC", 0.9),  # on the accepted RBC: dropped
        Proposal((50, 50, 10, 10), "WBC", 0.9),  # on the rejected WBC: dropped
        Proposal((51, 50, 10, 10), "RBC", 0.9),  # a rejected WBC says nothing about RBC
    ]
    assert [p.label for p in drop_decided(props, standing)] == ["RBC"]
    every, by_label = matcher_exclusions(standing, ["RBC", "WBC"])
    assert every == [(0, 0, 10, 10)] and by_label == {"WBC": [(50, 50, 10, 10)]}
    assert matcher_exclusions(standing, ["RBC"])[1] == {}


def test_fail_orphaned_fails_dead_owners_only(sessions):
    dead = {"host": owner()["host"], "pid": 2**22 + 12345}
    with sessions.begin() as s:
        jobs = [
            Job(kind="propagate", status="running", params={"owner": dead}),
            Job(kind="propagate", status="queued", params={"owner": owner()}),
            Job(kind="prelabel", status="running", params={**dead}),
            Job(kind="prelabel", status="running", params={"host": "elsewhere", "pid": 1}),
        ]
        s.add_all(jobs)
        s.flush()
        ids = [j.id for j in jobs]
    assert os.getpid() != dead["pid"]
    with sessions.begin() as s:
        assert fail_orphaned(s, kind="propagate") == 1
        assert fail_orphaned(s, kind="prelabel") == 1
    with sessions() as s:
        found = [s.get(Job, i) for i in ids]
        assert [j.status for j in found] == ["failed", "queued", "failed", "running"]
        assert "stopped" in found[0].error and "interrupted" in found[2].error


def test_labels_one_lookup_and_one_hotkey_rule(sessions, image_id):
    with sessions.begin() as s:
        ds = s.get(Image, image_id).dataset
        assert next_hotkey(ds.labels) == 3
        assert add_label(s, dataset_id=ds.id, name="Platelets").hotkey == 3
        assert find_label(ds, label_id=ds.labels[0].id).name == "RBC"
        assert find_label(ds) is None
        with pytest.raises(UnknownLabel, match="label_id 999 is not a label"):
            find_label(ds, label_id=999)
        with pytest.raises(InvalidInput, match="already has a label named 'RBC'"):
            add_label(s, dataset_id=ds.id, name="RBC")
        with pytest.raises(NotFound, match="no dataset with id 77"):
            add_label(s, dataset_id=77, name="X")


@pytest.mark.parametrize(
    "name, code",
    [
        ("\u202egnp.exe", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE: shows as "exe.png"
        ("R\u200bBC", "U+200B"),  # ZERO WIDTH SPACE: looks like "RBC"
        ("x\u2066y", "U+2066"),  # LEFT-TO-RIGHT ISOLATE
        ("soft\u00adhyphen", "U+00AD"),
        ("tab\tname", "U+0009"),
        ("line\u2028break", "U+2028"),
        ("private\ue000", "U+E000"),
    ],
)
def test_label_names_refuse_invisible_characters(sessions, image_id, name, code):
    with sessions.begin() as s:
        ds = s.get(Image, image_id).dataset
        for write in (
            lambda: add_label(s, dataset_id=ds.id, name=name),
            lambda: ensure_labels(s, ds, [name]),
            lambda: edit_label(s, label_id=ds.labels[0].id, name=name),
        ):
            with pytest.raises(
                InvalidInput, match=f"label name {re.escape(repr(name))}.*{re.escape(code)}"
            ):
                write()
        assert [lab.name for lab in ds.labels] == ["RBC", "WBC"]
    assert add_label_ok(sessions, image_id, "Zellkern ü 細胞 (α)") == "Zellkern ü 細胞 (α)"


def add_label_ok(sessions, image_id, name: str) -> str:
    with sessions.begin() as s:
        return add_label(s, dataset_id=s.get(Image, image_id).dataset_id, name=name).name


def test_box_writes_raise_domain_errors(sessions, image_id):
    with sessions.begin() as s:
        box = box_store.create_box(s, image_id=image_id, x=1, y=1, w=5, h=5, label="RBC", who="a")
        assert s.get(Image, image_id).state == "in_progress"
        box_id = box.id
    with sessions.begin() as s:
        box_store.patch_box(s, box_id=box_id, version=1, who="a", x=2)
    with pytest.raises(Conflict) as exc, sessions.begin() as s:
        box_store.patch_box(s, box_id=box_id, version=1, who="b", x=3)
    assert exc.value.current.version == 2 and exc.value.current.label.name == "RBC"
    with pytest.raises(InvalidInput, match="score must be in"), sessions.begin() as s:
        box_store.patch_box(s, box_id=box_id, version=2, who="a", score=2.0)
    with pytest.raises(InvalidInput, match="accepted box"), sessions.begin() as s:
        box_store.set_image_state(s, image_id=image_id, state="empty", who="a")
    with pytest.raises(NotFound, match="no box with id 99"), sessions.begin() as s:
        box_store.decide_boxes(s, ids=[box_id, 99], status="rejected", who="a")
