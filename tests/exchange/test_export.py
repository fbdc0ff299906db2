"""``scripts/prelabel.py`` (labeler.exchange.export): Label Studio / COCO output and its errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import REPO

from labeler.exchange.export import cli, list_images
from labeler.matching import MATCHER_VERSION

IMAGES = ["BloodImage_00094.jpg", "BloodImage_00197.jpg", "sub/BloodImage_00256.jpg"]


def run(batch_dir, *extra, out="out.json"):
    args = [str(batch_dir / "images"), "--exemplars", str(batch_dir / "ex.json"),
            "--out", str(batch_dir / out), "--workers", "1", "-q", *extra]  # fmt: skip
    return CliRunner().invoke(cli, args)


def px(result) -> tuple[float, ...]:
    v, w, h = result["value"], result["original_width"], result["original_height"]
    return (v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100, v["height"] * h / 100)


def test_list_images_is_recursive_sorted_and_skips_hidden_and_other_files(batch_dir):
    (batch_dir / "images" / "notes.txt").write_text("x")
    (batch_dir / "images" / ".hidden.jpg").write_bytes(b"x")
    assert list_images(batch_dir / "images") == IMAGES


def test_script_writes_labelstudio_tasks_the_sdk_accepts(batch_dir):
    from label_studio_sdk.label_interface import LabelInterface

    from labeler.formats.labelstudio import label_config

    out = batch_dir / "tasks.json"
    # The script itself, as a user runs it (worker processes re-import its __main__).
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "prelabel.py"), str(batch_dir / "images"),
         "--exemplars", str(batch_dir / "ex.json"), "--out", str(out), "--workers", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "proposals RBC" in proc.stdout and "images/s" in proc.stdout
    tasks = json.loads(out.read_text())
    assert [t["data"]["image"] for t in tasks] == [f"/data/local-files/?d={p}" for p in IMAGES]
    interface = LabelInterface(label_config(("RBC", "WBC", "Platelets")))
    n = 0
    for task in tasks:
        assert task["annotations"] == []
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == MATCHER_VERSION
        assert interface.validate_prediction(prediction, return_errors=True) == []
        for r in prediction["result"]:
            assert r["type"] == "rectanglelabels" and 0.5 <= r["score"] <= 1.0
            assert (r["original_width"], r["original_height"]) == (640, 480)
            x, y, w, h = px(r)
            assert min(x, y) >= 0 and x + w <= 640 + 1e-6 and y + h <= 480 + 1e-6
            n += 1
    assert n > 0
    assert not list(batch_dir.glob(".tasks.json.*"))  # no temp file left behind


def test_coco_agrees_with_labelstudio_output_through_the_sdk_converter(batch_dir, tmp_path):
    """Our COCO == label-studio-sdk's converter run on our tasks (predictions as annotations)."""
    from label_studio_sdk.converter import Converter

    from labeler.formats.labelstudio import label_config

    assert run(batch_dir, out="tasks.json").exit_code == 0
    result = run(batch_dir, "--format", "coco", out="coco.json")
    assert result.exit_code == 0, result.output
    coco = json.loads((batch_dir / "coco.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["RBC", "WBC", "Platelets"]
    assert [(i["file_name"], i["width"], i["height"]) for i in coco["images"]] == [
        (p, 640, 480) for p in IMAGES
    ]
    for a in coco["annotations"]:
        assert a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3])
        assert 0.5 <= a["score"] <= 1.0 and a["iscrowd"] == 0

    tasks = json.loads((batch_dir / "tasks.json").read_text())
    for task in tasks:
        task["annotations"] = [{"result": task["predictions"][0]["result"]}]
    (tmp_path / "as_annotations.json").write_text(json.dumps(tasks))
    (tmp_path / "config.xml").write_text(label_config(("RBC", "WBC", "Platelets")))
    conv = Converter(config=str(tmp_path / "config.xml"), project_dir=str(tmp_path),
                     download_resources=False)  # fmt: skip
    conv.convert_to_coco(str(tmp_path / "as_annotations.json"), str(tmp_path / "ls"), is_dir=False)
    theirs = json.loads((tmp_path / "ls" / "result.json").read_text())
    names = {c["id"]: c["name"] for c in theirs["categories"]}
    ours_names = {c["id"]: c["name"] for c in coco["categories"]}
    got = sorted((names[a["category_id"]], *a["bbox"]) for a in theirs["annotations"])
    want = sorted((ours_names[a["category_id"]], *a["bbox"]) for a in coco["annotations"])
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0] and g[1:] == pytest.approx(w[1:], abs=0.01)


def test_absolute_exemplar_paths_work(batch_dir):
    entries = json.loads((batch_dir / "ex.json").read_text())
    for e in entries:
        e["image"] = str(batch_dir / "images" / e["image"])
    (batch_dir / "ex.json").write_text(json.dumps(entries))
    assert run(batch_dir).exit_code == 0


@pytest.mark.parametrize(
    ("ex_json", "match"),
    [
        ("[{", "ex.json: not valid JSON"),
        ('{"image": "a"}', "ex.json: expected a JSON list"),
        ('[{"image": "BloodImage_00094.jpg", "box": [1, 1, 40, 40]}]', "entry 0: field 'label'"),
        ('[{"image": "BloodImage_00094.jpg", "box": "1,1,40,40", "label": "A"}]',
         "entry 0: field 'box': expected \\[x, y, w, h\\]"),
        ('[{"image": "gone.jpg", "box": [1, 1, 40, 40], "label": "A"}]',
         "entry 0: field 'image': gone.jpg not found"),
        ('[{"image": "BloodImage_00094.jpg", "box": [1, 1, 40, 40], "label": "A"},'
         ' {"image": "BloodImage_00094.jpg", "box": [600, 450, 80, 80], "label": "B"}]',
         "entry 1: field 'box': .*outside"),
    ],
)  # fmt: skip
def test_bad_exemplar_files_leave_the_output_untouched(batch_dir, ex_json, match):
    (batch_dir / "out.json").write_text("previous")
    (batch_dir / "ex.json").write_text(ex_json)
    result = run(batch_dir)
    assert result.exit_code == 1
    assert "ex.json" in result.output
    assert re.search(match, result.output), result.output
    assert (batch_dir / "out.json").read_text() == "previous"


def test_unknown_format_and_missing_folder(batch_dir):
    result = run(batch_dir, "--format", "yolo")
    assert result.exit_code == 2 and "'yolo' is not one of 'labelstudio', 'coco'" in result.output
    result = CliRunner().invoke(cli, [str(batch_dir / "nope"), "--exemplars",
                                      str(batch_dir / "ex.json"), "--out", "o.json"])  # fmt: skip
    assert result.exit_code == 1 and "nope: not a folder" in result.output


def test_an_unreadable_image_is_reported_and_the_rest_written(batch_dir):
    (batch_dir / "images" / "broken.png").write_text("not a png")
    result = run(batch_dir)
    assert result.exit_code == 1
    assert "images failed" in result.output and "broken.png" in result.output
    tasks = json.loads((batch_dir / "out.json").read_text())
    assert [t["data"]["labeler_path"] for t in tasks] == IMAGES
