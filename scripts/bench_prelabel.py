#!/usr/bin/env python
"""Benchmark ``labeler prelabel`` throughput: 1 vs 2 (vs N) worker processes.

Protocol (see BENCHMARKS.md, "Prelabel"): a temporary workspace whose dataset holds
``--images`` 640x480 blood-cell JPEGs (the shared 221-image set, else the demo's 24,
copied round-robin under distinct names and registered straight in the store, so the
benchmark measures prelabel, not ingest), 3 exemplars (one RBC, WBC and Platelets box
from the demo's exemplars.json). The full ``prelabel()`` runs, database writes included,
once per worker count, in this one process, in the order given (repeat with ``--repeat``:
runs alternate so a busy machine hurts both sides alike). Quality: proposals per run, and
whether every run stored the identical proposal set (parallelism must not change results),
plus recall of the ground-truth boxes at IoU >= 0.5.

Usage: .venv/bin/python scripts/bench_prelabel.py [--images 1000] [--workers 1 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labeler.matching import iou_matrix  # noqa: E402
from labeler.prelabel import prelabel  # noqa: E402
from labeler.store.models import Box, Image  # noqa: E402
from labeler.store.queries import ensure_labels, get_or_create_dataset  # noqa: E402
from labeler.workspace import init_workspace  # noqa: E402

DEMO = REPO / "datasets" / "demo"
SOURCES = (REPO.parent / "shared" / "datasets" / "blood-cells", DEMO)
EXEMPLARS = (1, 3, 4)  # RBC, WBC, Platelets entries of datasets/demo/exemplars.json


def build_workspace(root: Path, n: int) -> tuple[object, dict[str, str], Path]:
    """Workspace with dataset ``bench`` of ``n`` images; returns (ws, copy -> original, ex)."""
    src = next(s for s in SOURCES if (s / "images").is_dir())
    originals = sorted(p.name for p in (src / "images").glob("*.jpg"))
    ws = init_workspace(root)
    images = ws.dataset_dir("bench") / "images"
    images.mkdir(parents=True)
    origin = {}
    with ws.sessions.begin() as s:
        ds = get_or_create_dataset(s, "bench")
        ensure_labels(s, ds, ["RBC", "WBC", "Platelets"])
        for i in range(n):
            name = originals[i % len(originals)]
            copy = f"{i:05d}_{name}"
            shutil.copyfile(src / "images" / name, images / copy)
            origin[copy] = name
            s.add(Image(dataset=ds, path=f"datasets/bench/images/{copy}", sha256=f"{i:064x}",
                        width=640, height=480, format="jpeg"))  # fmt: skip
    entries = json.loads((DEMO / "exemplars.json").read_text())
    chosen = [dict(entries[i], image=str(DEMO / "images" / entries[i]["image"])) for i in EXEMPLARS]
    ex_file = root / "exemplars.json"
    ex_file.write_text(json.dumps(chosen))
    return ws, origin, src


def ground_truth(src: Path) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    with open(src / "boxes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            x0, y0, x1, y1 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            out[row["image"]][row["label"]].append((x0, y0, x1 - x0, y1 - y0))
    return {im: {lab: np.array(b) for lab, b in d.items()} for im, d in out.items()}


def stored(ws) -> dict[tuple[str, str], np.ndarray]:
    """(copy name, label) -> proposals (N, 4), rounded so runs compare exactly."""
    out: dict[tuple[str, str], list] = defaultdict(list)
    with ws.sessions() as s:
        for box in s.query(Box).join(Image).filter(Box.status == "proposed"):
            key = (box.image.path.rsplit("/", 1)[1], box.label.name)
            out[key].append(tuple(round(v, 3) for v in box.xywh))
    return {k: np.array(sorted(v)) for k, v in out.items()}


def clear_proposals(ws) -> None:
    with ws.sessions.begin() as s:
        s.execute(delete(Box).where(Box.status == "proposed"))
    with ws.engine.connect() as conn:  # not timed: leave no WAL to checkpoint for the next run
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def recall(props: dict, origin: dict[str, str], truth: dict) -> float:
    found = total = 0
    for copy, name in origin.items():
        for label, gt in truth.get(name, {}).items():
            total += len(gt)
            p = props.get((copy, label))
            if p is not None and len(p):
                found += int((iou_matrix(gt, p).max(axis=1) >= 0.5).sum())
    return found / total if total else float("nan")


def teach_every_label(ws) -> None:
    """A learned state for every label, as after some review: rankers that have seen as many
    accepts as the prior expected (the counts stage), so the ranked path runs in full."""
    from labeler.prelabel import learning
    from labeler.ranking import Ranker
    from labeler.store.queries import ensure_labels, get_dataset

    ranker = Ranker(n_pos=20, n_neg=20, expected_pos=20.0).to_dict()
    with ws.sessions.begin() as s:
        ds = get_dataset(s, "bench")
        for lab in ensure_labels(s, ds, ["RBC", "WBC", "Platelets"]):
            learning.upsert_state(s, dataset_id=ds.id, label_id=lab.id, accepted=ranker,
                                  useful=ranker)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--min-score", type=float, default=None)
    parser.add_argument("--learned", action="store_true",
                        help="rank with a learned state per label (candidates at 0.2, "
                        "rankers, show rule), as after some review")  # fmt: skip
    args = parser.parse_args()

    load = os.getloadavg()  # other work on the machine skews the speed-up: report it
    with tempfile.TemporaryDirectory(prefix="bench-prelabel-") as tmp:
        ws, origin, src = build_workspace(Path(tmp) / "ws", args.images)
        truth = ground_truth(src)
        if args.learned:
            teach_every_label(ws)
        rows, first = [], None
        for rep in range(args.repeat):
            for workers in args.workers:
                clear_proposals(ws)  # every run does the same work: insert, no deletes
                start, cpu = time.perf_counter(), time.process_time()
                _, summary = prelabel(ws, "bench", exemplars=Path(tmp) / "ws" / "exemplars.json",
                                      min_score=args.min_score, learned=args.learned or None,
                                      workers=workers)  # fmt: skip
                seconds, parent = time.perf_counter() - start, time.process_time() - cpu
                props = stored(ws)
                first = props if first is None else first
                same = props.keys() == first.keys() and all(
                    np.array_equal(props[k], first[k]) for k in props
                )
                rows.append({"rep": rep, "workers": workers, "images": summary.images,
                             "secs": seconds, "parent": parent, "worker": summary.worker_cpu,
                             "n": sum(summary.proposals.values()), "same": same,
                             "recall": recall(props, origin, truth)})  # fmt: skip
    base = {r["rep"]: r["secs"] for r in rows if r["workers"] == args.workers[0]}
    mode = ", learned state" if args.learned else ""
    print(f"# prelabel benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{platform.processor() or platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}")  # fmt: skip
    print(f"# {args.images} images 640x480 from {src.name}, 3 exemplars, min_score "
          f"{args.min_score}{mode}, full prelabel() incl. SQLite writes; load average "
          f"before/after: "
          f"{load[0]:.1f} / {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| run | workers | images | time (s) | images/s | speed-up vs "
          f"{args.workers[0]} | cores obtained | worker CPU ms/img | parent CPU ms/img "
          "| idle-machine speed-up bound | proposals | same proposals | recall@0.5 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m, p = r["worker"] / r["images"], r["parent"] / r["images"]
        cores = len(os.sched_getaffinity(0))
        # w workers + the parent on `cores` cores: an image costs max(m/w, p, (m+p)/cores).
        bound = m / max(m / r["workers"], p, (m + p) / cores)
        print(f"| {r['rep'] + 1} | {r['workers']} | {r['images']} | {r['secs']:.1f} | "
              f"{r['images'] / r['secs']:.2f} | {base[r['rep']] / r['secs']:.2f}x | "
              f"{(r['worker'] + r['parent']) / r['secs']:.2f} | {1000 * m:.1f} | {1000 * p:.1f} | "
              f"{bound:.2f}x | {r['n']} | {'yes' if r['same'] else 'NO'} | "
              f"{r['recall']:.3f} |")  # fmt: skip


if __name__ == "__main__":  # worker processes re-import this file
    main()
