"""``diff_coco``: the pure comparison behind ``labeler version diff`` (table of cases)."""

from __future__ import annotations

import pytest

from labeler.versioning.diff import diff_coco, format_diff

CATS = [{"id": 1, "name": "RBC"}, {"id": 2, "name": "WBC"}]


def coco(images: dict[str, list[tuple[str, list[float]]]]) -> dict:
    ids = {"RBC": 1, "WBC": 2}
    doc = {"categories": CATS, "images": [], "annotations": []}
    for n, (name, boxes) in enumerate(images.items(), start=1):
        doc["images"].append({"id": n, "file_name": name, "width": 640, "height": 480})
        for label, bbox in boxes:
            doc["annotations"].append(
                {
                    "id": len(doc["annotations"]) + 1,
                    "image_id": n,
                    "category_id": ids[label],
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }  # fmt: skip
            )
    return doc


A = ("RBC", [10.0, 10.0, 100.0, 80.0])
B = ("RBC", [300.0, 200.0, 60.0, 60.0])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"a.jpg": [A, B]}, {"a.jpg": [A, B]}, {"unchanged": {"RBC": 2}}),
        ({"a.jpg": [A]}, {"a.jpg": [("RBC", [10.004, 10, 100, 80])]}, {"unchanged": {"RBC": 1}}),
        ({"a.jpg": [A, B]}, {"a.jpg": [A, ("RBC", [305, 204, 60, 60])]},
         {"unchanged": {"RBC": 1}, "moved": {"RBC": 1}}),
        ({"a.jpg": [A]}, {"a.jpg": [("WBC", A[1])]}, {"relabelled": {("RBC", "WBC"): 1}}),
        ({"a.jpg": [A]}, {"a.jpg": [A, B]}, {"unchanged": {"RBC": 1}, "added": {"RBC": 1}}),
        ({"a.jpg": [A, B]}, {"a.jpg": [B]}, {"unchanged": {"RBC": 1}, "removed": {"RBC": 1}}),
        # far away with another label: not the same object
        ({"a.jpg": [A]}, {"a.jpg": [("WBC", B[1])]}, {"removed": {"RBC": 1}, "added": {"WBC": 1}}),
        ({"a.jpg": [A]}, {"a.jpg": [A], "b.jpg": [B]},
         {"unchanged": {"RBC": 1}, "added": {"RBC": 1}, "images_added": ("b.jpg",)}),
        ({"a.jpg": [A], "b.jpg": []}, {"a.jpg": [A]},
         {"unchanged": {"RBC": 1}, "images_removed": ("b.jpg",)}),
    ],
)  # fmt: skip
def test_diff_cases(old, new, expected):
    diff = diff_coco(coco(old), coco(new), a="x@v1", b="x@v2")
    for attr in ("added", "removed", "moved", "unchanged", "relabelled"):
        assert getattr(diff, attr) == expected.get(attr, {}), attr
    assert diff.images_added == expected.get("images_added", ())
    assert diff.images_removed == expected.get("images_removed", ())


def test_pairing_is_one_to_one_and_prefers_the_best_overlap():
    old = {"a.jpg": [("RBC", [0, 0, 100, 100]), ("RBC", [50, 0, 100, 100])]}
    new = {"a.jpg": [("RBC", [52, 0, 100, 100]), ("RBC", [2, 0, 100, 100])]}
    diff = diff_coco(coco(old), coco(new))
    assert diff.moved == {"RBC": 2} and diff.added == {} and diff.removed == {}


def test_format_diff_names_versions_and_relabels():
    diff = diff_coco(coco({"a.jpg": [A]}), coco({"a.jpg": [("WBC", A[1])]}), a="x@v1", b="x@v2")
    text = format_diff(diff)
    assert text.splitlines()[0] == "x@v1 -> x@v2"
    assert "relabelled RBC -> WBC: 1" in text
    assert diff.to_dict()["labels"]["WBC"]["relabelled_to"] == 1
