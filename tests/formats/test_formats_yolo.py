"""YOLO export/parse (labeler.formats.yolo), checked against label-studio-sdk's Converter."""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.formats import yolo
from labeler.formats.records import BoxRecord, DatasetRecord, FormatError, ImageRecord

TOL = 0.01  # px


def _lines(path):
    return sorted(tuple(float(v) for v in line.split()) for line in path.read_text().splitlines())


def test_files_mirror_folders(formats_records, tmp_path):
    written = yolo.export(formats_records, tmp_path)
    rel = {p.relative_to(tmp_path).as_posix() for p in written}
    assert rel == {
        "labels/a.txt", "labels/b.txt", "labels/sub/c.txt", "labels/sub/deeper/d.txt",
        "labels/other/c.txt", "labels/empty.txt", "labels/new.txt", "classes.txt", "data.yaml",
    }  # fmt: skip
    assert (tmp_path / "labels/empty.txt").read_text() == ""
    assert (tmp_path / "classes.txt").read_text().splitlines() == list(formats_records.labels)


def test_data_yaml_is_yaml_with_names(formats_records, tmp_path):
    import yaml  # PyYAML comes with DVC

    yolo.export(formats_records, tmp_path)
    doc = yaml.safe_load((tmp_path / "data.yaml").read_text(encoding="utf-8"))
    assert doc["names"] == dict(enumerate(formats_records.labels))
    assert doc["nc"] == 3 and doc["train"] == "images"


def test_agrees_with_label_studio_converter(formats_records, tmp_path, ls_convert):
    # Label Studio names label files by file name only: keep one image per name.
    keep = [i for i in formats_records.images if i.path != "other/c.jpg"]
    records = dataclasses.replace(formats_records, images=tuple(keep))
    yolo.export(records, tmp_path / "ours")
    theirs = ls_convert(records, "yolo")
    assert (theirs / "classes.txt").read_text().splitlines() == list(records.labels)
    n = 0
    for image in records.images:
        stem = PurePosixPath(image.path).with_suffix("")
        ours = _lines(tmp_path / "ours" / "labels" / f"{stem}.txt")
        their = _lines(theirs / "labels" / f"{stem.name}.txt")  # empty images: empty in both
        assert len(ours) == len(their) == len(image.accepted), image.path
        scale = (1, image.width, image.height, image.width, image.height)
        for a, b in zip(ours, their, strict=True):
            assert [v * s for v, s in zip(a, scale, strict=True)] == pytest.approx(
                [v * s for v, s in zip(b, scale, strict=True)], abs=TOL
            )
            n += 1
    assert n > 10


def test_round_trip_is_normalized_and_suffixless(formats_records, tmp_path):
    yolo.export(formats_records, tmp_path)
    back = yolo.parse(tmp_path)
    assert back.normalized and back.paths_without_suffix
    assert back.labels == formats_records.labels
    got = {img.path: img for img in back.images}
    for orig in formats_records.images:
        image = got[str(PurePosixPath(orig.path).with_suffix(""))]
        assert len(image.boxes) == len(orig.accepted)
        for a, b in zip(orig.accepted, image.boxes, strict=True):
            px = (b.x * orig.width, b.y * orig.height, b.w * orig.width, b.h * orig.height)
            assert px == pytest.approx((a.x, a.y, a.w, a.h), abs=TOL)
            assert b.label == a.label


def test_same_stem_in_one_folder_is_refused(tmp_path):
    images = (ImageRecord("a.jpg", 10, 10), ImageRecord("a.png", 10, 10))
    with pytest.raises(ValueError, match="same stem"):
        yolo.export(DatasetRecord("x", (), images), tmp_path)
    assert not any(tmp_path.iterdir())


BAD = [
    ("0 0.5 0.5 0.1", "line 1: expected 'class cx cy w h'"),
    ("x 0.5 0.5 0.1 0.1", "line 1 class: not a class index: 'x'"),
    ("0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1", "line 2 class: 5 not in classes.txt"),
    ("0 0.5 abc 0.1 0.1", "line 1 cy: not a number: 'abc'"),
    ("0 0.5 0.5 inf 0.1", "line 1 w: not a finite number"),
]


@pytest.mark.parametrize(("content", "message"), BAD)
def test_bad_files_name_file_and_line(tmp_path, content, message):
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("RBC\nWBC\n")
    bad = tmp_path / "labels" / "img.txt"
    bad.write_text(content + "\n")
    with pytest.raises(FormatError) as err:
        yolo.parse(tmp_path)
    assert str(bad) in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("missing", ["classes.txt", "labels"])
def test_missing_parts_are_named(tmp_path, missing):
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("RBC\n")
    target = tmp_path / missing
    target.rmdir() if target.is_dir() else target.unlink()
    with pytest.raises(FormatError, match=missing):
        yolo.parse(tmp_path)


@given(
    size=st.tuples(st.integers(1, 100_000), st.integers(1, 100_000)),
    frac=st.tuples(*[st.floats(0, 1) for _ in range(4)]),
)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_text_round_trip_any_box(size, frac):
    width, height = size
    x, y = frac[0] * width, frac[1] * height
    w, h = frac[2] * (width - x), frac[3] * (height - y)
    image = ImageRecord("a.jpg", width, height, "done", (BoxRecord("RBC", x, y, w, h),))
    line = yolo.label_lines(image, {"RBC": 0})
    cls, cx, cy, bw, bh = (float(v) for v in line.split())
    got = ((cx - bw / 2) * width, (cy - bh / 2) * height, bw * width, bh * height)
    assert got == pytest.approx((x, y, w, h), abs=TOL)
