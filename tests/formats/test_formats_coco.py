"""COCO export/parse (labeler.formats.coco), checked against label-studio-sdk's Converter."""

from __future__ import annotations

import dataclasses
import json
from pathlib import PurePosixPath

import pytest

from labeler.formats import coco
from labeler.formats.records import FormatError

TOL = 0.01  # px


def _unique_names(records):
    """Label Studio's converters key files by file name: keep one image per name."""
    seen, keep = set(), []
    for image in records.images:
        name = PurePosixPath(image.path).name
        if name not in seen:
            seen.add(name)
            keep.append(image)
    return dataclasses.replace(records, images=tuple(keep))


def _by_image(doc, key):
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    out = {key(img): [] for img in doc["images"]}
    names = {img["id"]: key(img) for img in doc["images"]}
    for ann in doc["annotations"]:
        out[names[ann["image_id"]]].append((cats[ann["category_id"]], *ann["bbox"]))
    return {k: sorted(v) for k, v in out.items()}


def test_structure(formats_records, tmp_path):
    coco.export(formats_records, tmp_path)
    doc = json.loads((tmp_path / coco.FILE).read_text(encoding="utf-8"))
    assert [c["name"] for c in doc["categories"]] == list(formats_records.labels)
    assert [c["id"] for c in doc["categories"]] == [1, 2, 3]
    assert [i["file_name"] for i in doc["images"]] == [i.path for i in formats_records.images]
    assert len(doc["annotations"]) == sum(len(i.accepted) for i in formats_records.images)
    for ann in doc["annotations"]:
        x, y, w, h = ann["bbox"]
        assert ann["area"] == pytest.approx(w * h)
        assert ann["iscrowd"] == 0
    empty = next(i for i in doc["images"] if i["file_name"] == "empty.jpg")
    assert (empty["width"], empty["height"], empty["labeler_state"]) != (None, None, None)
    assert not [a for a in doc["annotations"] if a["image_id"] == empty["id"]]


def test_agrees_with_label_studio_converter(formats_records, tmp_path, ls_convert):
    records = _unique_names(formats_records)
    coco.export(records, tmp_path / "ours")
    ours = json.loads((tmp_path / "ours" / coco.FILE).read_text(encoding="utf-8"))
    theirs = json.loads((ls_convert(records, "coco") / "result.json").read_text(encoding="utf-8"))
    name = lambda img: PurePosixPath(img["file_name"]).name  # noqa: E731
    ours_boxes, their_boxes = _by_image(ours, name), _by_image(theirs, name)
    assert ours_boxes.keys() == their_boxes.keys()  # empty images are listed by both
    n = 0
    for key, boxes in ours_boxes.items():
        assert len(boxes) == len(their_boxes[key]), key
        for a, b in zip(boxes, their_boxes[key], strict=True):
            assert a[0] == b[0]
            assert a[1:] == pytest.approx(b[1:], abs=TOL)
            n += 1
    assert n == sum(len(i.accepted) for i in records.images) > 10
    # Documented difference: Label Studio cannot size an image it did not download.
    their_empty = next(i for i in theirs["images"] if name(i) == "empty.jpg")
    assert their_empty["width"] is None
    assert next(i for i in ours["images"] if name(i) == "empty.jpg")["width"] > 0


def test_round_trip(formats_records, tmp_path):
    coco.export(formats_records, tmp_path)
    back = coco.parse(tmp_path / coco.FILE)
    assert back.labels == formats_records.labels
    for orig, got in zip(formats_records.images, back.images, strict=True):
        assert (got.path, got.width, got.height, got.state) == (
            orig.path, orig.width, orig.height, orig.state,
        )  # fmt: skip
        assert [b.label for b in got.boxes] == [b.label for b in orig.accepted]
        for a, b in zip(orig.accepted, got.boxes, strict=True):
            assert (b.x, b.y, b.w, b.h) == pytest.approx((a.x, a.y, a.w, a.h), abs=TOL)


def _doc(**over):
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "RBC"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
    }
    for key, value in over.items():
        doc[key] = value
    return doc


BAD = [
    ("[1, 2", "not valid JSON"),
    ([], "expected an object"),
    (_doc(images=None), "images: missing or not a list"),
    (_doc(categories=[{"id": 1}]), "categories[0].name: missing"),
    (_doc(images=[{"id": 1, "file_name": "a.jpg", "width": "wide", "height": 80}]),
     "images[0].width: not a number: 'wide'"),
    (_doc(annotations=[{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4]}]),
     "annotations[0].image_id: no image with id 7"),
    (_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]}]),
     "annotations[0].category_id: no category with id 9"),
    (_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]),
     "annotations[0].bbox: expected [x, y, w, h]"),
    (_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, "x", 3, 4]}]),
     "annotations[0].bbox[1]: not a number"),
    (_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1}]),
     "annotations[0].bbox: missing"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), BAD)
def test_bad_files_name_file_and_field(tmp_path, content, message):
    path = tmp_path / "coco.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(FormatError) as err:
        coco.parse(path)
    assert str(path) in str(err.value) and message in str(err.value)
