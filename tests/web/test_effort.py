"""End to end: the simulated annotator (the team's yardstick, ``scripts/annotator_sim.py``)
labels the bundled demo through ``labeler serve`` and the real API, and must finish well
ahead of drawing every box by hand, so a regression of proposals fails CI.

Refits run inside the requests (``LABELER_LEARN_SYNC``): the same decisions then teach the
same rankers on every run, and the speed-up does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Issue 10 asks for > 1.5x on datasets/demo at --accept-iou 0.7, for both policies: measured
# 1.57x image by image and 1.72x propagating image 1 first (refits synchronous: repeatable).
FLOORS = {"dataset": 1.5, "image": 1.5}


@pytest.mark.parametrize("policy", sorted(FLOORS))
def test_demo_is_labelled_faster_than_by_hand(policy, tmp_path):
    labeler = Path(sys.executable).with_name("labeler")
    out = tmp_path / "sim.json"
    env = {**os.environ, "LABELER_LEARN_SYNC": "1", "TMPDIR": str(tmp_path)}
    env.pop("LABELER_SHOW_MARGIN", None)
    sim, demo = REPO / "scripts" / "annotator_sim.py", REPO / "datasets" / "demo"
    run = subprocess.run(
        [sys.executable, str(sim), str(demo),
         "--labeler", str(labeler), "--policy", policy, "--accept-iou", "0.7", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith("SUMMARY") and "ok=True" in summary, summary
    result = json.loads(out.read_text())
    speedup = float(summary.split("speedup=")[1].split()[0])
    assert speedup > FLOORS[policy], run.stdout[-3000:]
    assert result  # the JSON report was written
