"""labeler.completeness: every check against a crafted case in a real SQLite workspace."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from labeler.completeness import CHECKS, check_dataset, check_workspace, format_text
from labeler.matching.geometry import iou
from labeler.store.models import Box, Dataset, Image, LabelClass
from labeler.store.queries import NotFound, ensure_labels

BLOCKERS = [key for key, (_, severity) in CHECKS.items() if severity == "blocker"]


def _image(s, n=0) -> Image:
    return s.scalars(select(Image).order_by(Image.path).offset(n).limit(1)).one()


def _label(s, name="RBC") -> LabelClass:
    return s.scalars(select(LabelClass).where(LabelClass.name == name)).one()


def _add_box(s, *, image=0, label="RBC", status="accepted", xywh=(100, 100, 30, 30)) -> int:
    lab = label if isinstance(label, LabelClass) else _label(s, label)
    x, y, w, h = xywh
    box = Box(image=_image(s, image), label=lab, x=x, y=y, w=w, h=h, status=status)
    s.add(box)
    s.flush()
    return box.id


def _set_state(state):
    def craft(s):
        im = _image(s, 3)
        im.state = state
        return {"image": im.id}

    return craft


def _box_case(**kwargs):
    return lambda s: {"box": _add_box(s, **kwargs)}


def _duplicate_of_existing(*, dx=0.5, label=None, status="accepted"):
    def craft(s):
        first = s.scalars(select(Box).order_by(Box.id).limit(1)).one()
        copy = Box(image_id=first.image_id, label=label and _label(s, label) or first.label,
                   x=first.x + dx, y=first.y, w=first.w, h=first.h, status=status)  # fmt: skip
        s.add(copy)
        s.flush()
        return {"box": first.id}

    return craft


def _foreign_label(s):
    other = Dataset(name="other")
    s.add(other)
    s.flush()
    (lab,) = ensure_labels(s, other, ["Elsewhere"])
    return {"box": _add_box(s, label=lab)}


def _only_proposals(s):
    im = _image(s, 5)
    s.execute(delete(Box).where(Box.image_id == im.id))
    _add_box(s, image=5, status="proposed")
    return {"image": im.id}


def _same_sha(s):
    a, b = _image(s, 0), _image(s, 1)
    b.sha256 = a.sha256
    return {"image": a.id}


# (case id, craft(session) -> {"image": id} or {"box": id} of the first item, expected counts)
CASES = [
    ("never-opened", _set_state("new"), {"images_new": 1, "images_done": 23}),
    ("in-progress", _set_state("in_progress"), {"images_in_progress": 1, "images_done": 23}),
    ("confirmed-empty", _set_state("empty"), {"images_empty": 1, "images_done": 23}),
    ("undecided-proposal", _box_case(status="proposed"), {"proposals_undecided": 1}),
    ("only-proposals", _only_proposals, {"images_undecided": 1, "proposals_undecided": 1}),
    ("outside-right", _box_case(xywh=(630, 10, 20, 20)), {"boxes_outside": 1}),
    ("outside-top", _box_case(xywh=(10, -3, 20, 20)), {"boxes_outside": 1}),
    ("edge-slack-ok", _box_case(xywh=(620.4, 0, 20, 20)), {"boxes_outside": 0}),
    ("under-2px", _box_case(xywh=(10, 10, 1.5, 20)), {"boxes_too_small": 1, "boxes_tiny": 0}),
    ("infinite", _box_case(xywh=(math.inf, 10, 20, 20)), {"boxes_nonfinite": 1}),
    ("tiny", _box_case(xywh=(10, 10, 3, 20)), {"boxes_tiny": 1, "boxes_too_small": 0}),
    ("rejected-bad-box", _box_case(xywh=(630, 10, 1, 20), status="rejected"), {"boxes_outside": 0}),
    ("near-duplicate", _duplicate_of_existing(), {"boxes_near_duplicate": 1}),
    (
        "near-duplicate-proposal",
        _duplicate_of_existing(status="proposed"),
        {"boxes_near_duplicate": 1, "proposals_undecided": 1},
    ),  # fmt: skip
    ("overlap-other-label", _duplicate_of_existing(label="WBC"), {"boxes_near_duplicate": 0}),
    ("overlap-rejected", _duplicate_of_existing(status="rejected"), {"boxes_near_duplicate": 0}),
    ("shifted-too-far", _duplicate_of_existing(dx=8), {"boxes_near_duplicate": 0}),
    ("foreign-label", _foreign_label, {"boxes_foreign_label": 1}),
    ("same-sha256", _same_sha, {"images_duplicate": 2}),
]


def _counts(report) -> dict[str, int]:
    return {c.key: c.count for c in report.checks}


def test_clean_dataset_is_ready(check_ws):
    report = check_dataset(check_ws, "demo")
    assert not report.blocking and report.blockers == []
    assert report.images == {
        "total": 24, "new": 0, "in_progress": 0, "done": 24, "empty": 0, "approved": 0
    }  # fmt: skip
    assert report.boxes == {"total": 566, "accepted": 566, "proposed": 0, "rejected": 0}
    assert {s.name: (s.accepted, s.images) for s in report.labels} == {
        "RBC": (524, 24),
        "WBC": (26, 24),
        "Platelets": (16, 12),
    }
    assert all(c.count == 0 for c in report.checks if c.key != "images_done")


@pytest.mark.parametrize(("craft", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_check_finds_its_crafted_case(check_ws, craft, expected):
    before = _counts(check_dataset(check_ws, "demo"))
    with check_ws.sessions.begin() as s:
        first = craft(s)
    report = check_dataset(check_ws, "demo")
    after = _counts(report)
    for key, n in expected.items():
        assert after[key] == n, key
    key = next(iter(expected))  # the crafted item is the first behind the first count
    if expected[key]:
        item = report.check(key).items[0]
        assert item.box_id == first.get("box", item.box_id)
        assert item.image_id == first.get("image", item.image_id)
    untouched = {k: v for k, v in after.items() if k not in expected}
    assert untouched == {k: v for k, v in before.items() if k not in expected}
    blocks = any(expected.get(key) for key in BLOCKERS)
    assert report.blocking is blocks
    if blocks:
        assert any(report.check(key).title in line for key in expected for line in report.blockers)


def test_counts_are_complete_while_items_are_capped(check_ws):
    with check_ws.sessions.begin() as s:
        s.execute(update(Image).values(state="new"))
    capped = check_dataset(check_ws, "demo", limit=5)
    check = capped.check("images_new")
    assert (check.count, len(check.items), check.truncated) == (24, 5, True)
    assert [i.path for i in check.items] == sorted(i.path for i in check.items)
    every = check_dataset(check_ws, "demo", limit=None).check("images_new")
    assert (every.count, len(every.items), every.truncated) == (24, 24, False)


@pytest.mark.parametrize(
    ("minimum", "low"), [(0, []), (17, ["Platelets"]), (27, ["WBC", "Platelets"])]
)
def test_labels_under_the_minimum(check_ws, minimum, low):
    report = check_dataset(check_ws, "demo", min_per_label=minimum)
    assert [s.name for s in report.labels if s.below_minimum] == low
    check = report.check("labels_below_minimum")
    assert check.count == len(low) and [i.label for i in check.items] == low
    assert not report.blocking  # a warning, not a blocker


def test_min_box_size_is_configurable(check_ws):
    with check_ws.sessions.begin() as s:
        box_id = _add_box(s, xywh=(10, 10, 9, 30))
    assert check_dataset(check_ws, "demo").check("boxes_tiny").count == 0
    tiny = check_dataset(check_ws, "demo", min_box_size=10).check("boxes_tiny")
    assert box_id in [i.box_id for i in tiny.items]


def test_near_duplicates_agree_with_brute_force(check_ws):
    rng = np.random.default_rng(7)
    with check_ws.sessions.begin() as s:
        s.execute(delete(Box))
        labels = [_label(s, n) for n in ("RBC", "WBC")]
        images = [_image(s, n) for n in range(4)]
        rows = []
        for _ in range(300):  # clusters around a few centres, so some pairs exceed 0.9
            cx, cy = rng.choice([(100, 100), (300, 200), (500, 400)]) + rng.normal(0, 1.5, 2)
            w, h = rng.uniform(38, 42, 2)
            status = str(rng.choice(["accepted", "proposed", "rejected"]))
            rows.append(Box(image=images[rng.integers(4)], label=labels[rng.integers(2)],
                            x=cx - w / 2, y=cy - h / 2, w=w, h=h, status=status))  # fmt: skip
        s.add_all(rows)
        s.flush()
        live = [(b.image_id, b.label_id, b.xywh) for b in rows if b.status != "rejected"]
    expected = sum(
        1
        for i, (im_a, lab_a, a) in enumerate(live)
        for im_b, lab_b, b in live[i + 1 :]
        if im_a == im_b and lab_a == lab_b and iou(a, b) > 0.9
    )
    assert expected > 10  # the case must exercise the check
    found = check_dataset(check_ws, "demo", limit=None).check("boxes_near_duplicate")
    assert found.count == expected == len(found.items)


def test_to_dict_is_json_with_the_documented_keys(check_ws):
    with check_ws.sessions.begin() as s:
        _add_box(s, xywh=(math.inf, 10, 20, 20))
    doc = json.loads(json.dumps(check_dataset(check_ws, "demo").to_dict(), allow_nan=False))
    assert set(doc) == {"dataset", "dataset_id", "blocking", "blockers", "settings", "images",
                        "boxes", "checks", "labels"}  # fmt: skip
    assert list(doc["checks"]) == list(CHECKS)
    for check in doc["checks"].values():
        assert set(check) == {"title", "severity", "checked", "count", "truncated", "items"}
    item = doc["checks"]["boxes_nonfinite"]["items"][0]
    assert set(item) == {"image_id", "path", "box_id", "label", "detail"}
    assert "inf" in item["detail"] and doc["blocking"] is True
    assert doc["checks"]["files_missing"]["checked"] is False
    assert set(doc["labels"][0]) == {"id", "name", "colour", "accepted", "proposed", "images",
                                     "below_minimum"}  # fmt: skip


def test_summary_and_text(check_ws):
    with check_ws.sessions.begin() as s:
        _set_state("in_progress")(s)
    report = check_dataset(check_ws, "demo")
    summary = report.summary()
    assert summary["blocking"] is True and summary["problems"] == {"images_in_progress": 1}
    assert summary["images"]["done"] == 23 and summary["files_verified"] is False
    text = format_text(report)
    assert "images in progress: 1" in text and "NOT READY" in text
    assert "files not verified" in text


def test_unknown_dataset_names_the_known_ones(check_ws):
    with pytest.raises(NotFound, match=r"'nope'.*demo"):
        check_dataset(check_ws, "nope")


def test_negative_thresholds_are_refused(check_ws):
    with pytest.raises(ValueError, match="must not be negative"):
        check_dataset(check_ws, "demo", min_box_size=-1)


def test_check_workspace_covers_every_dataset(check_ws):
    with check_ws.sessions.begin() as s:
        s.add(Dataset(name="aaa-empty"))
    reports = check_workspace(check_ws)
    assert [r.dataset for r in reports] == ["aaa-empty", "demo"]
    assert reports[0].images["total"] == 0 and not reports[0].blocking


def _corrupt(ws, kind: str) -> tuple[str, int]:
    with ws.sessions.begin() as s:
        im = _image(s, 2)
        path = ws.abspath(im.path)
        if kind == "files_missing":
            path.unlink()
        elif kind == "files_changed":
            path.write_bytes(path.read_bytes() + b"\0")
        elif kind == "files_size_mismatch":
            im.width += 1
        elif kind == "files_unreadable":  # garbage whose hash is the stored one: bad header
            from labeler.completeness.files import sha256_file

            path.write_bytes(b"not an image at all")
            im.sha256 = sha256_file(path)
        return kind, im.id


@pytest.mark.parametrize(
    "kind", ["files_missing", "files_changed", "files_size_mismatch", "files_unreadable"]
)
def test_verify_files_catches_each_problem(check_ws, kind):
    assert not check_dataset(check_ws, "demo", verify_files=True).blocking
    key, image_id = _corrupt(check_ws, kind)
    report = check_dataset(check_ws, "demo", verify_files=True)
    assert {c.key: c.count for c in report.checks if c.key.startswith("files_")} == {
        k: int(k == key) for k in ("files_missing", "files_unreadable", "files_changed",
                                   "files_size_mismatch")
    }  # fmt: skip
    assert report.check(key).items[0].image_id == image_id and report.blocking
    # Without --verify-files nothing reads the files, and nothing claims they are fine.
    unverified = check_dataset(check_ws, "demo").check(key)
    assert (unverified.checked, unverified.count) == (False, 0)


def test_verify_files_catches_a_changed_and_a_missing_file_together(check_ws):
    _corrupt(check_ws, "files_changed")
    with check_ws.sessions.begin() as s:
        gone = _image(s, 7)
        check_ws.abspath(gone.path).unlink()
    report = check_dataset(check_ws, "demo", verify_files=True)
    assert report.check("files_changed").count == 1
    assert report.check("files_missing").items[0].image_id == gone.id
    assert (
        "1 missing files" in report.blockers and "1 files changed since ingest" in report.blockers
    )


def _one_of_each(s, name: str) -> None:
    """A small dataset with one instance of every SQL-side problem."""
    ds, other = Dataset(name=name), Dataset(name=f"{name}-other")
    s.add_all([ds, other])
    s.flush()
    rbc, wbc = ensure_labels(s, ds, ["RBC", "WBC"])
    (foreign,) = ensure_labels(s, other, ["X"])
    states = ["new", "in_progress", "done", "empty", "done"]
    ims = [Image(dataset=ds, path=f"datasets/{name}/images/{n}.png", sha256=f"{n % 4:064d}",
                 width=100, height=80, format="png", state=st)
           for n, st in enumerate(states)]  # fmt: skip
    s.add_all(ims)
    s.flush()
    boxes = [
        (0, rbc, (10, 10, 20, 20), "proposed"),  # image 0: proposals only
        (2, rbc, (10, 10, 20, 20), "accepted"),
        (2, rbc, (10.5, 10, 20, 20), "proposed"),  # near-duplicate of the one above
        (2, wbc, (10, 10, 20, 20), "accepted"),  # same place, other label: fine
        (2, rbc, (90, 10, 20, 20), "accepted"),  # outside
        (2, rbc, (5, 5, 1, 9), "accepted"),  # under 2 px
        (2, rbc, (5, 5, 3, 9), "accepted"),  # tiny
        (2, rbc, (math.inf, 5, 3, 9), "accepted"),  # non-finite
        (2, foreign, (50, 50, 9, 9), "accepted"),  # label of another dataset
        (4, rbc, (200, 5, 1, 1), "rejected"),  # rejected: never a problem
    ]
    s.add_all(
        Box(image=ims[i], label=lab, x=x, y=y, w=w, h=h, status=st)
        for i, lab, (x, y, w, h), st in boxes
    )


ONE_OF_EACH = {
    "images_new": 1, "images_in_progress": 1, "images_done": 2, "images_empty": 1,
    "proposals_undecided": 2, "images_undecided": 1, "boxes_outside": 1, "boxes_too_small": 1,
    "boxes_nonfinite": 1, "boxes_foreign_label": 1, "boxes_tiny": 1, "boxes_near_duplicate": 1,
    "images_duplicate": 2, "labels_below_minimum": 2,
}  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_same_counts_on_sqlite_and_postgresql(tmp_path, request, backend):
    from labeler.workspace import init_workspace

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    ws = init_workspace(tmp_path / "ws", database_url=url)
    name = f"check-{tmp_path.name}"[:60]  # the PostgreSQL database is shared by the session
    try:
        with ws.sessions.begin() as s:
            _one_of_each(s, name)
        report = check_dataset(ws, name)
        assert {k: v for k, v in _counts(report).items() if v} == ONE_OF_EACH
        assert report.boxes == {"total": 10, "accepted": 7, "proposed": 2, "rejected": 1}
        assert [(s.name, s.accepted, s.proposed, s.images) for s in report.labels] == [
            ("RBC", 5, 2, 1),
            ("WBC", 1, 0, 1),
        ]
    finally:
        ws.engine.dispose()


def test_counting_is_a_fixed_number_of_queries(check_ws):
    """Counts come from SQL aggregates: the number of statements does not grow with the data."""
    from sqlalchemy import event

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def run() -> int:
        statements.clear()
        event.listen(check_ws.engine, "before_cursor_execute", count)
        try:
            check_dataset(check_ws, "demo")
        finally:
            event.remove(check_ws.engine, "before_cursor_execute", count)
        return len(statements)

    small = run()
    with check_ws.sessions.begin() as s:  # ten times the boxes, none of them a problem
        boxes = s.scalars(select(Box)).all()
        s.add_all(
            Box(image_id=b.image_id, label_id=b.label_id, x=b.x, y=b.y, w=b.w, h=b.h,
                status="rejected")
            for b in boxes for _ in range(9)
        )  # fmt: skip
    assert run() == small <= 20
