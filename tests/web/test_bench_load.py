"""``scripts/bench_load.py`` keeps working: a short run (3 clients, SQLite, a real ``labeler
serve``) loses no acknowledged write and gets no 5xx; and its write check does find a lost,
an overwritten and a duplicated write when the database lacks them (a check that cannot
fail would prove nothing). No time is asserted: CI shares its cores."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from helpers import REPO
from sqlalchemy import select

from labeler.store.models import Box, Image, LabelClass

SCRIPT = REPO / "scripts" / "bench_load.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_run_loses_no_write_and_gets_no_5xx(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--clients", "3", "--seconds", "2", "--images", "6"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    summary = dict(
        kv.split("=", 1) for kv in run.stdout.strip().splitlines()[-1].split()[1:]
    )  # SUMMARY db=... clients=... ...
    assert (summary["lost"], summary["duplicates"], summary["5xx"]) == ("0", "0", "0"), out
    assert (summary["unanswered"], summary["tracebacks"], summary["ok"]) == ("0", "0", "True"), out
    assert int(summary["writes_checked"]) > 0 and int(summary["requests"]) > 0, out


def _box(s, image: Image, label: LabelClass, *, x: float, who: str, source: str) -> Box:
    box = Box(image_id=image.id, label_id=label.id, x=x, y=1.0, w=5.0, h=5.0,
              status="accepted", source=source, created_by=who)  # fmt: skip
    s.add(box)
    s.flush()
    return box


def _fields(box: Box, **changes) -> tuple:
    values = {"x": box.x, "y": box.y, "w": box.w, "h": box.h, "status": box.status,
              "label_id": box.label_id, **changes}  # fmt: skip
    return tuple(values[k] for k in ("x", "y", "w", "h", "status", "label_id"))


# (what the ledger claims, given stored box `a` at version 1 drawn by "ann" -> lost, duplicates)
CASES = [
    ("as stored", lambda a: [(a.id, 1, _fields(a), "drawn")], 1, (0, 0)),
    ("a no-op update", lambda a: [(a.id, 1, _fields(a), "drawn"), (a.id, 1, _fields(a), "updated")],
     1, (0, 0)),
    ("newer than stored", lambda a: [(a.id, 2, _fields(a, x=9.0), "nudged")], 1, (1, 0)),
    ("other fields", lambda a: [(a.id, 1, _fields(a, status="rejected"), "decided")], 1, (1, 0)),
    ("missing", lambda a: [(a.id + 1000, 1, _fields(a), "proposed")], 1, (1, 0)),
    ("two writes at one version",
     lambda a: [(a.id, 1, _fields(a), "nudged"), (a.id, 1, _fields(a, x=3.0), "nudged")],
     1, (1, 0)),
    ("a box more than drawn", lambda a: [(a.id, 1, _fields(a), "drawn")], 0, (0, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("claims", "drawn", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_the_write_check_counts_lost_and_duplicate_writes(demo_ws, claims, drawn, expected):
    bench_load = _load_script()
    with demo_ws.sessions.begin() as s:
        image = s.scalar(select(Image).order_by(Image.id))
        label = image.dataset.labels[0]
        box = _box(s, image, label, x=2.0, who="ann", source="user")
        _box(s, image, label, x=20.0, who="ann", source="import")  # not drawn: not counted
        s.expunge(box)
    ann = SimpleNamespace(name="ann", acked=claims(box), drawn=drawn, unanswered_draws=0)
    tally = bench_load.check_writes(demo_ws.sessions, [ann])
    assert (tally["lost"], tally["duplicates"]) == expected, tally["problems"]
    assert bool(tally["problems"]) == (expected != (0, 0))
