"""``labeler match``: CliRunner and the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from labeler.commands.match import match, parse_exemplar_spec


def _scene(path: Path, seed: int, n: int = 6) -> list[tuple[int, int, int, int]]:
    """Write a 320x240 scene with ``n`` copies of one object; return their boxes."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(180, 4, (240, 320, 3)), 0, 255).astype(np.uint8)
    obj = np.zeros((30, 36, 3), np.uint8)
    cv2.ellipse(obj, (18, 15), (16, 13), 0, 0, 360, (50, 50, 200), -1)
    cv2.circle(obj, (18, 15), 6, (230, 230, 240), -1)
    boxes = []
    for i in range(n):
        x, y = 20 + (i % 3) * 100, 20 + (i // 3) * 110
        region = img[y : y + 30, x : x + 36]
        region[:] = np.where(obj.sum(axis=2, keepdims=True) > 0, obj, region)
        boxes.append((x, y, 36, 30))
    cv2.imwrite(str(path), img)
    return boxes


@pytest.fixture
def scenes(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    return a, _scene(a, 1), b, _scene(b, 2)


def test_json_output_in_pixels(scenes):
    a, boxes_a, b, boxes_b = scenes
    x, y, w, h = boxes_a[0]
    res = CliRunner().invoke(match, [str(a), str(b), "-e", f"{a}:{x},{y},{w},{h}:blob"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [d["image"] for d in doc] == [str(a), str(b)]
    # The exemplar itself is not proposed again on its own image.
    assert len(doc[0]["proposals"]) == len(boxes_a) - 1
    assert len(doc[1]["proposals"]) == len(boxes_b)
    p = doc[1]["proposals"][0]
    assert p["label"] == "blob" and 0.5 <= p["score"] <= 1.0 and len(p["box"]) == 4
    assert doc[1]["width"] == 320 and doc[1]["height"] == 240
    assert doc[1]["params"]["min_score"] == 0.5


def test_labelstudio_output(scenes):
    a, boxes_a, b, _ = scenes
    x, y, w, h = boxes_a[0]
    res = CliRunner().invoke(
        match,
        [str(b), "-e", f"{a}:{x},{y},{w},{h}", "--format", "labelstudio", "--min-score", "0.6"],
    )
    assert res.exit_code == 0, res.output
    (task,) = json.loads(res.stdout)
    assert task["data"]["image"] == str(b)
    (pred,) = task["predictions"]
    assert pred["model_version"].startswith("labeler-tm")
    assert 0.6 <= pred["score"] <= 1.0
    r = pred["result"][0]
    assert r["type"] == "rectanglelabels" and r["from_name"] == "label" and r["to_name"] == "image"
    assert (r["original_width"], r["original_height"]) == (320, 240)
    v = r["value"]
    assert v["rectanglelabels"] == ["object"] and v["rotation"] == 0
    assert v["width"] == pytest.approx(100 * 36 / 320, rel=0.2)
    assert 0 <= v["x"] <= 100 and 0 <= v["y"] <= 100


def test_unreadable_target_is_reported_and_others_processed(scenes, tmp_path):
    a, boxes_a, b, _ = scenes
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    x, y, w, h = boxes_a[0]
    res = CliRunner().invoke(match, [str(bad), str(b), "-e", f"{a}:{x},{y},{w},{h}"])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and "bad.png" in res.stderr
    doc = json.loads(res.stdout)
    assert [d["image"] for d in doc] == [str(b)]


def test_bad_exemplar_is_a_usage_error(scenes):
    a, _, b, _ = scenes
    for spec in (f"{a}:1,2,3", f"{a}:300,200,50,50", f"{a.parent / 'missing.png'}:1,1,10,10"):
        res = CliRunner().invoke(match, [str(b), "-e", spec])
        assert res.exit_code == 2, spec
        assert "--exemplar" in res.output


def test_parse_exemplar_spec():
    assert parse_exemplar_spec("dir/x.png:1,2.5,30,40:RBC") == (
        Path("dir/x.png"),
        (1, 2.5, 30, 40),
        "RBC",
    )
    assert parse_exemplar_spec("x.png:1,2,3,4")[2] == "object"


def test_console_script(scenes):
    a, boxes_a, b, boxes_b = scenes
    exe = shutil.which("labeler", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("labeler console script not installed in this environment")
    x, y, w, h = boxes_a[0]
    proc = subprocess.run(
        [exe, "match", str(b), "--exemplar", f"{a}:{x},{y},{w},{h}:blob"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    assert len(doc["proposals"]) == len(boxes_b)


def test_lsformat_helpers():
    from labeler.formats.labelstudio_result import ls_prediction_task, ls_rect_result

    r = ls_rect_result((64, 48, 32, 24), "RBC", 640, 480, score=0.9, id="a1")
    assert r["value"] == {
        "x": 10.0,
        "y": 10.0,
        "width": 5.0,
        "height": 5.0,
        "rotation": 0,
        "rectanglelabels": ["RBC"],
    }
    assert r["score"] == 0.9 and r["id"] == "a1" and r["image_rotation"] == 0
    assert "score" not in ls_rect_result((0, 0, 1, 1), "x", 10, 10)
    with pytest.raises(ValueError, match="positive"):
        ls_rect_result((0, 0, 1, 1), "x", 0, 10)
    task = ls_prediction_task(
        "img.png", 100, 50, [{"box": (0, 0, 10, 5), "label": "a", "score": 0.5}], model_version="v"
    )
    assert task["predictions"][0]["score"] == 0.5 and task["predictions"][0]["model_version"] == "v"
    assert task["predictions"][0]["result"][0]["value"]["height"] == 10.0
    assert ls_prediction_task("x", 10, 10, [])["predictions"][0]["score"] == 0.0
