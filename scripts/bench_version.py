#!/usr/bin/env python3
"""Benchmark ``labeler version create`` on a synthetic dataset (default 10,000 small images).

Builds a throwaway workspace in a temp dir (real git + DVC, SQLite), fills it with small PNGs
and 3 accepted boxes per image (bulk inserts), then times the first version (every image new
to DVC), a second one after editing 1% of the boxes, and ``version diff`` between them.
Prints a table: step, seconds, ratio to the 30 s budget, and what was checked.

    .venv/bin/python scripts/bench_version.py [--images 10000] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import insert, select, update

from labeler.store.models import Box, Image
from labeler.store.queries import ensure_labels, get_or_create_dataset
from labeler.versioning import create_version
from labeler.versioning.diff import diff_versions
from labeler.workspace import init_workspace

BUDGET_S = 30.0
LABELS = ("RBC", "WBC", "Platelets")


def build(root: Path, n: int, seed: int = 0) -> object:
    rng = np.random.default_rng(seed)
    ws = init_workspace(root)
    images_dir = ws.dataset_dir("bench") / "images"
    with ws.sessions.begin() as s:
        ds = get_or_create_dataset(s, "bench")
        label_ids = [lb.id for lb in ensure_labels(s, ds, LABELS)]
        ds_id = ds.id
    rows = []
    for i in range(n):
        rel = f"{i // 1000:02d}/img{i:05d}.png"
        path = images_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", rng.integers(0, 255, (48, 64), dtype=np.uint8))
        data = buf.tobytes()
        path.write_bytes(data)
        rows.append(
            {
                "dataset_id": ds_id,
                "path": f"datasets/bench/images/{rel}",
                "width": 64,
                "height": 48,
                "format": "png",
                "state": "done",
                "sha256": hashlib.sha256(data).hexdigest(),
            }  # fmt: skip
        )
    with ws.sessions.begin() as s:
        s.execute(insert(Image), rows)
        ids = s.scalars(select(Image.id).where(Image.dataset_id == ds_id)).all()
        boxes = [
            {
                "image_id": image_id,
                "label_id": label_ids[k],
                "x": 2.0 + 15 * k,
                "y": 4.0,
                "w": 12.0,
                "h": 10.0,
                "status": "accepted",
                "source": "user",
            }  # fmt: skip
            for image_id in ids
            for k in range(3)
        ]
        s.execute(insert(Box), boxes)
    return ws


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (DVC, git): less load-sensitive."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp workspace")
    args = parser.parse_args()
    os.environ["DVC_NO_ANALYTICS"] = "1"
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("labeler.versioning").setLevel(logging.DEBUG)  # per-step times
    tmp = Path(tempfile.mkdtemp(prefix="labeler-bench-version-"))
    try:
        with Timer() as t:
            ws = build(tmp / "ws", args.images)
        rows = [("build workspace (not timed against budget)", t, "")]

        with Timer() as t:
            v1, m1 = create_version(ws, "bench", message="bench v1")
        n_files = len(m1["sha256"]) + 1
        rows.append(("version create v1 (all new)", t,
                     f"{v1.tag}: {n_files} files, {m1['counts']['boxes']} boxes"))  # fmt: skip

        with ws.sessions.begin() as s:
            s.execute(update(Box).where(Box.id % 100 == 0).values(x=Box.x + 1.0))
        with Timer() as t:
            v2, m2 = create_version(ws, "bench", message="bench v2: 1% of boxes moved")
        rows.append(("version create v2 (1% boxes moved)", t, v2.tag))

        with Timer() as t:
            diff = diff_versions(ws, "bench", 1, 2)
        moved = sum(diff.moved.values())
        rows.append(("version diff v1 v2", t, f"{moved} boxes moved"))
        status = subprocess.run(["git", "status", "--porcelain", "datasets"], cwd=ws.root,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        print(f"# {args.images} images of 64x48 px, 3 boxes each; budget {BUDGET_S:.0f} s")
        print(f"# {os.uname().nodename}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
        print(f"{'step':<45} {'wall s':>7} {'cpu s':>7} {'wall/budget':>11}  checked")
        for step, t, note in rows:
            print(f"{step:<45} {t.wall:7.1f} {t.cpu:7.1f} {t.wall / BUDGET_S:11.2f}  {note}")
        print(f"git status of datasets/ after: {status or 'clean'}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
