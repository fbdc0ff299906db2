"""Records between the store and the formats (labeler.formats.records)."""

from __future__ import annotations

import pytest

from labeler.formats.records import FormatError, load_records, model_version_of, number
from labeler.store.queries import NotFound


def test_load_records_from_store(formats_ws):
    records = load_records(formats_ws, "demo")
    assert records.name == "demo" and records.labels == ("RBC", "WBC", "Platelets")
    assert len(records.images) == 24
    assert [i.path for i in records.images] == sorted(i.path for i in records.images)
    assert all("/" not in i.path and i.width == 640 and i.height == 480 for i in records.images)
    empty = [i for i in records.images if i.state == "empty"]
    assert len(empty) == 1 and empty[0].boxes == ()
    proposed = [b for i in records.images for b in i.proposed]
    assert sorted(b.score for b in proposed) == [0.62, 0.91]
    assert {b.model_version for b in proposed} == {"labeler-tm-1"}
    assert any(b.x == 10.25 and b.w == pytest.approx(33.3) for b in records.images[0].accepted)
    assert set(records.colours) == set(records.labels)


def test_rejected_boxes_are_not_loaded(formats_ws):
    from sqlalchemy import select

    from labeler.store.models import Box

    before = sum(len(i.boxes) for i in load_records(formats_ws, "demo").images)
    with formats_ws.sessions.begin() as s:
        box = s.scalars(select(Box).where(Box.status == "accepted")).first()
        box.status = "rejected"
    assert sum(len(i.boxes) for i in load_records(formats_ws, "demo").images) == before - 1


def test_unknown_dataset(formats_ws):
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        load_records(formats_ws, "nope")


@pytest.mark.parametrize(
    ("params", "expected"),
    [(None, None), ({}, None), ({"version": "labeler-tm-1"}, "labeler-tm-1"),
     ({"model_version": "yolo-v8", "version": "x"}, "yolo-v8"), ({"model_version": 3}, "3")],
)  # fmt: skip
def test_model_version_of(params, expected):
    assert model_version_of(params) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3.0), (2.5, 2.5), (" 4.25 ", 4.25), ("1e2", 100.0)]
)
def test_number_accepts(value, expected):
    assert number(value, "f.json", "x") == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [("abc", "not a number"), (None, "not a number"), (True, "not a number"),
     ([1], "not a number"), (float("nan"), "not a finite number"), ("inf", "not a finite number")],
)  # fmt: skip
def test_number_refuses_naming_file_and_field(value, problem):
    with pytest.raises(FormatError) as err:
        number(value, "f.json", "annotations[3].bbox[0]")
    assert str(err.value).startswith(f"f.json: annotations[3].bbox[0]: {problem}")
