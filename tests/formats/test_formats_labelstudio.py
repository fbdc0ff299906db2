"""Label Studio JSON export/parse (labeler.formats.labelstudio)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from labeler.formats import labelstudio
from labeler.formats.records import FormatError

TOL = 0.01  # px


def _tasks(records, tmp_path, **opts):
    labelstudio.export(records, tmp_path / "out", **opts)
    return json.loads((tmp_path / "out" / labelstudio.TASKS_FILE).read_text(encoding="utf-8"))


def _px(result):
    v, w, h = result["value"], result["original_width"], result["original_height"]
    return (v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100, v["height"] * h / 100)


def test_one_task_per_image_with_percent_boxes(formats_records, tmp_path):
    tasks = _tasks(formats_records, tmp_path)
    assert len(tasks) == len(formats_records.images)
    for task, image in zip(tasks, formats_records.images, strict=True):
        assert task["data"]["image"] == f"/data/local-files/?d=datasets/cells/images/{image.path}"
        assert task["data"]["labeler_path"] == image.path
        assert task["data"]["labeler_image_id"] == image.image_id
        results = [r for a in task["annotations"] for r in a["result"]]
        assert len(results) == len(image.accepted)
        for r, box in zip(results, image.accepted, strict=True):
            assert r["type"] == "rectanglelabels"
            assert r["value"]["rectanglelabels"] == [box.label]
            assert (r["original_width"], r["original_height"]) == (image.width, image.height)
            assert _px(r) == pytest.approx((box.x, box.y, box.w, box.h), abs=1e-9)


@pytest.mark.parametrize(
    ("path", "n_annotations"),
    [("empty.jpg", 1), ("new.jpg", 0), ("sub/c.jpg", 1), ("a.jpg", 1)],
)
def test_confirmed_empty_gets_empty_annotation_and_new_gets_none(
    formats_records, tmp_path, path, n_annotations
):
    task = next(t for t in _tasks(formats_records, tmp_path) if t["data"]["labeler_path"] == path)
    assert len(task["annotations"]) == n_annotations
    if path == "empty.jpg":
        assert task["annotations"][0]["result"] == []


def test_predictions_grouped_by_model_version_with_scores(formats_records, tmp_path):
    task = _tasks(formats_records, tmp_path)[0]
    image = formats_records.images[0]
    by_version = {p["model_version"]: p for p in task["predictions"]}
    assert set(by_version) == {b.model_version for b in image.proposed}
    for version, pred in by_version.items():
        boxes = [b for b in image.proposed if b.model_version == version]
        assert [r["score"] for r in pred["result"]] == [b.score for b in boxes]
        assert pred["score"] == pytest.approx(sum(b.score for b in boxes) / len(boxes))


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("http://h:5000/img/", "http://h:5000/img/sub/deeper/my%20cell%23.jpg"),
        ("/data/local-files/?d=x/", "/data/local-files/?d=x/sub/deeper/my%20cell%23.jpg"),
        ("images/", "images/sub/deeper/my cell#.jpg"),  # a plain path stays readable
    ],
)
def test_image_prefix_quotes_urls_only(prefix, expected):
    assert labelstudio.image_ref(prefix, "sub/deeper/my cell#.jpg") == expected


def test_label_config_escapes_names_and_numbers_classes(formats_records):
    xml = labelstudio.label_config(formats_records.labels, dict(formats_records.colours))
    root = ET.fromstring(xml)
    labels = root.findall("./RectangleLabels/Label")
    assert [lab.get("value") for lab in labels] == list(formats_records.labels)
    assert [lab.get("category") for lab in labels] == ["0", "1", "2"]
    assert root.find("Image").get("value") == "$image"


def test_converter_reads_our_config(formats_records):
    from label_studio_sdk.converter import Converter

    xml = labelstudio.label_config(formats_records.labels)
    conv = Converter(config=xml, project_dir=".", download_resources=False)
    cats, _ = conv._get_labels()
    assert {c["name"]: c["id"] for c in cats} == formats_records.label_index()


def test_round_trip(formats_records, tmp_path):
    labelstudio.export(formats_records, tmp_path)
    back = labelstudio.parse(tmp_path)
    for orig, got in zip(formats_records.images, back.images, strict=True):
        assert got.path == orig.path and got.state == orig.state
        assert len(got.boxes) == len(orig.boxes)
        key = lambda b: (b.status, b.model_version or "", b.x)  # noqa: E731
        for a, b in zip(sorted(orig.boxes, key=key), sorted(got.boxes, key=key), strict=True):
            assert (b.label, b.status, b.score, b.model_version) == (
                a.label, a.status, a.score, a.model_version,
            )  # fmt: skip
            assert (b.x, b.y, b.w, b.h) == pytest.approx((a.x, a.y, a.w, a.h), abs=TOL)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("/data/local-files/?d=datasets/d/images/sub/a%20b.jpg", "datasets/d/images/sub/a b.jpg"),
        ("/data/upload/1/ab12cd34-name.jpg", "data/upload/1/ab12cd34-name.jpg"),
        ("http://host:8080/api/v1/images/12/file", "api/v1/images/12/file"),
        ("https://bucket.example/x/y.png?sig=abc", "x/y.png"),
        ("s3://bucket/dir/z.jpg", "dir/z.jpg"),
        ("sub/plain.jpg", "sub/plain.jpg"),
    ],
)  # fmt: skip
def test_reduce_ref(ref, expected):
    assert labelstudio.reduce_ref(ref) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ab12cd34-name.jpg", "name.jpg"), ("name.jpg", None), ("AB12CD34-x.jpg", None),
     ("ab12cd3-x.jpg", None), ("ab12cd34-", None)],
)  # fmt: skip
def test_strip_upload_prefix(name, expected):
    assert labelstudio.strip_upload_prefix(name) == expected


def _result(**value):
    v = {"x": 1, "y": 2, "width": 3, "height": 4, "rectanglelabels": ["RBC"], **value}
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": 100, "original_height": 100, "value": v}  # fmt: skip


BAD = [
    ("{not json", "not valid JSON"),
    ('"a string"', "expected a list of tasks"),
    ([{"annotations": []}], "task 0.data"),
    ([{"data": {}}], "task 0.data.image"),
    ([{"data": {"image": "a.jpg"}, "annotations": {}}], "task 0.annotations"),
    ([{"data": {"image": "a.jpg"}, "annotations": [{"result": [_result(x="abc")]}]}],
     "task 0.annotations[0].result[0].value.x: not a number: 'abc'"),
    ([{"data": {"image": "a.jpg"}, "annotations": [{"result": [_result(y=float("nan"))]}]}],
     "value.y: not a finite number"),
    ([{"data": {"image": "a.jpg"}, "annotations": [{"result": [_result(rectanglelabels=[])]}]}],
     "value.rectanglelabels: missing label name"),
    ([{"data": {"image": "a.jpg"}, "annotations": [{"result": [_result(rotation=30)]}]}],
     "rotated boxes are not supported"),
    ([{"data": {"image": "a.jpg"}, "predictions": [{"result": [{**_result(), "value": 3}]}]}],
     "task 0.predictions[0].result[0].value"),
    ([{"data": {"image": "a.jpg"}, "annotations": [{"result": [
        {k: v for k, v in _result().items() if k != "original_width"}]}]}],
     "result[0].original_width: missing"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), BAD)
def test_bad_files_name_file_and_field(tmp_path, content, message):
    path = tmp_path / "export.json"
    text = content if isinstance(content, str) else json.dumps(content)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError) as err:
        labelstudio.parse(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_newest_live_annotation_wins_and_other_result_types_are_ignored(tmp_path):
    old = {"created_at": "2024-01-01", "result": [_result(x=10)]}
    new = {"created_at": "2024-02-01", "result": [_result(x=20), {"type": "choices"}]}
    cancelled = {"created_at": "2024-03-01", "was_cancelled": True, "result": [_result(x=30)]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"data": {"image": "a.jpg"}, "annotations": [old, new, cancelled]}))
    (image,) = labelstudio.parse(path).images
    assert [b.x for b in image.boxes] == [pytest.approx(20)]
    assert image.state == "done"


def test_predictions_listed_by_id_only_are_reported(tmp_path):
    task = {"data": {"image": "a.jpg"}, "annotations": [{"result": [_result()]}],
            "predictions": [11, 12]}  # fmt: skip
    path = tmp_path / "quick.json"
    path.write_text(json.dumps([task, task]))
    parsed = labelstudio.parse(path)
    assert len(parsed.images[0].boxes) == 1
    (note,) = parsed.notes
    assert "4 predictions are listed by id only" in note and str(path) in note
