"""Importing annotation files into a dataset (labeler.exchange.imports) and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from labeler.cli import cli
from labeler.exchange.imports import ImportFailed, import_records, match_paths
from labeler.formats import FORMATS, load_records
from labeler.store.models import Box, Image, LabelClass

TOL = 0.01  # px
IMAGES = ["a.jpg", "sub/b.jpg", "sub/c.jpg", "other/c.jpg", "x/y/z.png", "img.v2.jpg"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("a.jpg", "a.jpg"),  # relative path
        ("sub/c.jpg", "sub/c.jpg"),
        ("datasets/d/images/other/c.jpg", "other/c.jpg"),  # reduced local-files URL
        ("/abs/elsewhere/x/y/z.png", "x/y/z.png"),
        ("data/upload/1/b.jpg", "sub/b.jpg"),  # unique file name
        ("data/upload/1/ab12cd34-b.jpg", "sub/b.jpg"),  # Label Studio's upload prefix
        ("./a.jpg", "a.jpg"),
    ],
)
def test_match_by_path_then_unique_name(entry, expected):
    m = match_paths([entry], IMAGES)
    assert m.mapping == {entry: expected} and not m.unmatched and not m.ambiguous


@pytest.mark.parametrize(
    ("entries", "unmatched", "ambiguous"),
    [
        (["c.jpg"], [], ["c.jpg (2 images named c.jpg)"]),
        (["data/upload/1/ab12cd34-c.jpg"], [], ["(2 images named c.jpg)"]),
        (["nope.jpg", "sub/nope.jpg"], ["nope.jpg", "sub/nope.jpg"], []),
        (["a.jpg", "b/a.jpg"], [], ["b/a.jpg (image a.jpg already matched by a.jpg)"]),
    ],
)  # fmt: skip
def test_never_guesses(entries, unmatched, ambiguous):
    m = match_paths(entries, IMAGES)
    assert list(m.unmatched) == unmatched
    assert len(m.ambiguous) == len(ambiguous)
    for got, want in zip(m.ambiguous, ambiguous, strict=True):
        assert want in got


def test_match_without_suffix():
    m = match_paths(["sub/b", "img.v2", "other/c"], IMAGES, without_suffix=True)
    assert m.mapping == {"sub/b": "sub/b.jpg", "img.v2": "img.v2.jpg", "other/c": "other/c.jpg"}


def _counts(ws):
    with ws.sessions() as s:
        return s.scalar(select(func.count(Box.id))), s.scalar(select(func.count(LabelClass.id)))


def _by_path(records):
    key = lambda b: (b.status, b.label, round(b.x, 1), round(b.y, 1))  # noqa: E731
    return {img.path: (img.state, sorted(img.boxes, key=key)) for img in records.images}


@pytest.mark.parametrize("fmt", ["labelstudio", "coco", "yolo", "voc"])
def test_export_import_round_trip(fmt, formats_ws, formats_blank_ws, tmp_path):
    original = load_records(formats_ws, "demo")
    FORMATS[fmt].export(original, tmp_path / fmt)
    report = import_records(formats_blank_ws, "demo", FORMATS[fmt].parse(tmp_path / fmt))
    assert report.images == 24
    back = _by_path(load_records(formats_blank_ws, "demo"))
    n = 0
    for path, (state, boxes) in _by_path(original).items():
        got_state, got = back[path]
        if fmt != "labelstudio":  # only Label Studio carries proposals
            boxes = [b for b in boxes if b.status == "accepted"]
        if fmt != "yolo":  # YOLO cannot carry the image state
            assert got_state == state, path
        assert len(got) == len(boxes), path
        for a, b in zip(boxes, got, strict=True):
            assert (b.label, b.status, b.score, b.model_version) == (
                a.label, a.status, a.score, a.model_version,
            )  # fmt: skip
            assert (b.x, b.y, b.w, b.h) == pytest.approx((a.x, a.y, a.w, a.h), abs=TOL)
            n += 1
    assert n > 500


@pytest.mark.parametrize("fmt", ["labelstudio", "coco"])
def test_reimport_does_not_duplicate(fmt, formats_ws, formats_blank_ws, tmp_path):
    FORMATS[fmt].export(load_records(formats_ws, "demo"), tmp_path)
    first = import_records(formats_blank_ws, "demo", FORMATS[fmt].parse(tmp_path))
    counts = _counts(formats_blank_ws)
    second = import_records(formats_blank_ws, "demo", FORMATS[fmt].parse(tmp_path))
    assert _counts(formats_blank_ws) == counts
    assert second.replaced == first.boxes + first.proposals


def test_importing_own_export_adds_nothing(formats_ws, tmp_path):
    FORMATS["coco"].export(load_records(formats_ws, "demo"), tmp_path)
    before = _counts(formats_ws)
    import_records(formats_ws, "demo", FORMATS["coco"].parse(tmp_path))
    assert _counts(formats_ws) == before


def _coco(tmp_path, annotations, images=None, categories=None):
    doc = {
        "images": images or [{"id": 1, "file_name": "BloodImage_00094.jpg", "width": 640,
                              "height": 480}],
        "categories": categories or [{"id": 1, "name": "RBC"}],
        "annotations": [{"id": i, "image_id": 1, "category_id": 1, "bbox": b}
                        for i, b in enumerate(annotations)],
    }  # fmt: skip
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))
    return FORMATS["coco"].parse(path), path


BAD = [
    ({"annotations": [[1, 2, 3, 4], [600, 10, 100, 20]]}, "box 1 (RBC)", "outside"),
    ({"annotations": [[1, 2, 0.5, 4]]}, "box 0 (RBC)", "at least"),
    ({"annotations": [[1, 2, 3, 4]], "images": [{"id": 1, "file_name": "missing.jpg",
      "width": 640, "height": 480}]}, "no ingested image matches entry 'missing.jpg'", ""),
    ({"annotations": [[1, 2, 3, 4]], "categories": [{"id": 1, "name": "Neutrophil"}]},
     "labels not in dataset 'demo': 'Neutrophil'", "--create-labels"),
    ({"annotations": [[1, 2, 3, 4]], "images": [{"id": 1, "file_name": "BloodImage_00094.jpg",
      "width": 1280, "height": 960}]}, "size 1280x960 in the file but 640x480 in the store", ""),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "message", "more"), BAD)
def test_bad_imports_write_nothing(formats_ws, tmp_path, doc, message, more):
    records, path = _coco(tmp_path, **doc)
    before = _counts(formats_ws)
    with pytest.raises(ImportFailed) as err:
        import_records(formats_ws, "demo", records, source=path)
    assert str(path) in str(err.value) and message in str(err.value) and more in str(err.value)
    assert _counts(formats_ws) == before


def test_create_labels_and_skip_unmatched(formats_ws, tmp_path):
    images = [{"id": 1, "file_name": "BloodImage_00094.jpg", "width": 640, "height": 480},
              {"id": 2, "file_name": "elsewhere.jpg", "width": 640, "height": 480}]  # fmt: skip
    records, _ = _coco(tmp_path, [[1, 2, 30, 40]], images, [{"id": 1, "name": "Neutrophil"}])
    report = import_records(formats_ws, "demo", records, create_labels=True, skip_unmatched=True)
    assert report.created_labels == ("Neutrophil",) and report.unmatched == ("elsewhere.jpg",)
    assert report.boxes == 1


def test_new_image_with_imported_boxes_is_in_progress(formats_blank_ws, tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("RBC\n")
    (tmp_path / "labels" / "BloodImage_00094.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    import_records(formats_blank_ws, "demo", FORMATS["yolo"].parse(tmp_path))
    with formats_blank_ws.sessions() as s:
        image = s.scalar(select(Image).where(Image.path.endswith("BloodImage_00094.jpg")))
        assert image.state == "in_progress"
        (box,) = image.boxes
        assert (box.x, box.y, box.w, box.h) == pytest.approx((288, 216, 64, 48))
        assert box.source == "import"


@pytest.mark.parametrize("fmt", ["labelstudio", "voc"])
def test_cli_export_then_import(fmt, formats_ws, formats_blank_ws, tmp_path):
    out = tmp_path / "out"
    run = CliRunner().invoke
    res = run(cli, ["export", "-d", "demo", "-f", fmt, "-o", str(out), "-w", str(formats_ws.root)])
    assert res.exit_code == 0, res.output
    assert "exported 24 images" in res.output
    res = run(cli, ["import", fmt, str(out), "-d", "demo", "-w", str(formats_blank_ws.root)])
    assert res.exit_code == 0, res.output
    assert "on 24 images" in res.output
    assert _counts(formats_blank_ws)[0] > 500


def test_cli_errors_are_messages(formats_ws, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    res = CliRunner().invoke(cli, ["import", "coco", str(bad), "-d", "demo",
                                   "-w", str(formats_ws.root)])  # fmt: skip
    assert res.exit_code == 1 and f"{bad}: not valid JSON" in res.output
    res = CliRunner().invoke(cli, ["export", "-d", "nope", "-f", "coco", "-o", str(tmp_path),
                                   "-w", str(formats_ws.root)])  # fmt: skip
    assert res.exit_code == 1 and "no dataset named 'nope'" in res.output


def test_export_done_only(formats_ws, tmp_path):
    records = load_records(formats_ws, "demo", done_only=True)
    assert {img.state for img in records.images} == {"done", "empty"}
    assert len(records.images) == 9


def test_accepted_import_is_not_swallowed_by_an_identical_proposal(formats_ws, tmp_path):
    from labeler.store.models import Box

    with formats_ws.sessions() as s:
        proposal = s.scalars(select(Box).where(Box.status == "proposed")).first()
        name = proposal.image.rel_path
        xywh = [proposal.x, proposal.y, proposal.w, proposal.h]
    images = [{"id": 1, "file_name": name, "width": 640, "height": 480}]
    records, _ = _coco(tmp_path, [xywh], images)
    report = import_records(formats_ws, "demo", records)
    assert (report.boxes, report.skipped_identical) == (1, 0)
