#!/usr/bin/env python
"""Benchmark ``labeler check``: SQL aggregates vs a Python-loop baseline on synthetic rows.

Fills a temporary SQLite workspace with ``--images`` images and ``--boxes`` boxes
(bulk ``executemany`` inserts, seeded), with a known number of planted problems
(invalid, tiny, near-duplicate, foreign-label boxes), times ``check_dataset``
and prints a table: time, ratio vs the baseline, and whether the counts are the
expected ones. The baseline fetches every box row and counts in Python.

    .venv/bin/python scripts/bench_check.py              # 100,000 images, 1,000,000 boxes
    .venv/bin/python scripts/bench_check.py --images 1000 --boxes 10000 --no-baseline
    .venv/bin/python scripts/bench_check.py --images 11 --boxes 28000 --crowded

``--crowded`` scatters small boxes at random over each image (a find-similar run wild:
thousands of overlapping proposals per image) instead of one grid cell per box; the
near-duplicate count is then checked against a NumPy all-pairs count per image.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sqlite3
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import insert, select

from labeler.completeness import check_dataset
from labeler.matching.geometry import iou
from labeler.store.models import Box, Dataset, Image, LabelClass
from labeler.workspace import init_workspace

W, H = 640, 480
BATCH = 50_000
PLANTED = {  # check key -> boxes (pairs for near-duplicates) planted per 1,000,000 boxes
    "boxes_outside": 500,
    "boxes_too_small": 300,
    "boxes_nonfinite": 100,
    "boxes_tiny": 700,
    "boxes_near_duplicate": 400,
    "boxes_foreign_label": 200,
}


def fill(ws, n_images: int, n_boxes: int, seed: int, crowded: bool = False) -> dict[str, int]:
    """Insert the synthetic dataset ``bench``; returns the planted count per check."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    with ws.engine.begin() as conn:
        ds = conn.execute(
            insert(Dataset).values(name="bench", created_at=now)
        ).inserted_primary_key[0]
        other = conn.execute(
            insert(Dataset).values(name="other", created_at=now)
        ).inserted_primary_key[0]
        labels = [
            conn.execute(
                insert(LabelClass).values(dataset_id=d, name=n, colour="#e6194b")
            ).inserted_primary_key[0]
            for d, n in ((ds, "RBC"), (ds, "WBC"), (ds, "Platelets"), (other, "X"))
        ]
        states = rng.choice(
            ["new", "in_progress", "done", "empty"], n_images, p=[0.1, 0.05, 0.8, 0.05]
        )
        image_rows = [
            {
                "dataset_id": ds,
                "path": f"datasets/bench/images/{i // 1000:03d}/{i:06d}.jpg",
                "sha256": f"{i % (n_images - 50) if n_images > 100 else i:064x}",
                "width": W,
                "height": H,
                "format": "jpeg",
                "state": str(states[i]),
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for i in range(n_images)
        ]  # fmt: skip  (the last 50 images repeat a sha256: duplicates)
        for start in range(0, n_images, BATCH):
            conn.execute(insert(Image), image_rows[start : start + BATCH])
        first_image = conn.scalar(select(Image.id).where(Image.dataset_id == ds).order_by(Image.id))

        scale = n_boxes / 1_000_000
        planted = {key: max(1, round(n * scale)) for key, n in PLANTED.items()}
        # Well-spread valid boxes: a grid cell per box so random boxes never overlap by accident.
        per_image = max(1, math.ceil(n_boxes / n_images))
        cols = math.ceil(math.sqrt(per_image * W / H))
        cell_w, cell_h = W / cols, H / math.ceil(per_image / cols)
        k = np.arange(n_boxes)
        slot = k % per_image
        x = (slot % cols) * cell_w + rng.uniform(0, 2, n_boxes)
        y = (slot // cols) * cell_h + rng.uniform(0, 2, n_boxes)
        w = rng.uniform(8, cell_w - 3, n_boxes) if not crowded else rng.uniform(5, 12, n_boxes)
        h = rng.uniform(8, cell_h - 3, n_boxes) if not crowded else rng.uniform(5, 12, n_boxes)
        if crowded:
            x, y = rng.uniform(0, W - 12, n_boxes), rng.uniform(0, H - 12, n_boxes)
        image_id = first_image + (k // per_image) % n_images
        label = np.asarray(labels[:3])[rng.integers(0, 3, n_boxes)]
        status = rng.choice(["accepted", "proposed", "rejected"], n_boxes, p=[0.85, 0.1, 0.05])
        status[: sum(planted.values()) + planted["boxes_near_duplicate"]] = "accepted"
        i = 0
        for key, n in planted.items():  # overwrite the first boxes with planted problems
            sl = slice(i, i + n)
            if key == "boxes_outside":  # a whole image-width right: never overlapping
                x[sl] += W
            elif key == "boxes_too_small":
                w[sl] = 1.0
            elif key == "boxes_nonfinite":
                y[sl] = np.inf
            elif key == "boxes_tiny":
                h[sl] = 3.0
            elif key == "boxes_foreign_label":
                label[sl] = labels[3]
            elif key == "boxes_near_duplicate":  # box i+n+j copies box i+j, shifted 0.2 px
                dup = slice(i + n, i + 2 * n)
                x[dup], y[dup], w[dup], h[dup] = x[sl] + 0.2, y[sl], w[sl], h[sl]
                image_id[dup], label[dup] = image_id[sl], label[sl]
                n *= 2
            i += n
        common = {"source": "user", "is_exemplar": False, "created_at": now, "updated_at": now,
                  "version": 1}  # fmt: skip
        for start in range(0, n_boxes, BATCH):
            sl = slice(start, start + BATCH)
            rows = [
                {"image_id": int(a), "label_id": int(b), "x": float(c), "y": float(d),
                 "w": float(e), "h": float(f), "status": str(g), **common}
                for a, b, c, d, e, f, g in zip(
                    image_id[sl], label[sl], x[sl], y[sl], w[sl], h[sl], status[sl], strict=True
                )
            ]  # fmt: skip
            conn.execute(insert(Box), rows)
    return planted


def baseline(ws) -> dict[str, int]:
    """The same box counts the slow way: fetch every row, loop in Python."""
    counts: dict[str, int] = defaultdict(int)
    by_key = defaultdict(list)
    with ws.engine.connect() as conn:
        ds = conn.scalar(select(Dataset.id).where(Dataset.name == "bench"))
        stmt = (
            select(Box.id, Box.image_id, Box.label_id, Box.x, Box.y, Box.w, Box.h, Box.status,
                   Image.width, Image.height, LabelClass.dataset_id)
            .join(Image, Image.id == Box.image_id)
            .join(LabelClass, LabelClass.id == Box.label_id)
            .where(Image.dataset_id == ds)
        )  # fmt: skip
        for bid, img, lab, x, y, w, h, status, iw, ih, lab_ds in conn.execute(stmt):
            if status == "rejected":
                continue
            if not all(math.isfinite(v) for v in (x, y, w, h)):
                counts["boxes_nonfinite"] += 1
            else:
                if x < -0.5 or y < -0.5 or x + w > iw + 0.5 or y + h > ih + 0.5:
                    counts["boxes_outside"] += 1
                if w < 2 or h < 2:
                    counts["boxes_too_small"] += 1
                elif w < 4 or h < 4:
                    counts["boxes_tiny"] += 1
            if lab_ds != ds:
                counts["boxes_foreign_label"] += 1
            by_key[img, lab].append((bid, (x, y, w, h)))
    for boxes in by_key.values():
        for i, (_, a) in enumerate(boxes):
            counts["boxes_near_duplicate"] += sum(iou(a, b) > 0.9 for _, b in boxes[i + 1 :])
    return counts


def all_pairs_near_duplicates(ws) -> int:
    """Near-duplicate pairs counted with NumPy over every pair of live boxes per (image,
    label): quadratic, fine for a few thousand boxes per image."""
    with ws.engine.connect() as conn:
        ds = conn.scalar(select(Dataset.id).where(Dataset.name == "bench"))
        stmt = (
            select(Box.image_id, Box.label_id, Box.x, Box.y, Box.w, Box.h)
            .join(Image, Image.id == Box.image_id)
            .where(Image.dataset_id == ds, Box.status != "rejected")
        )
        rows = np.array(conn.execute(stmt).all(), dtype=np.float64).reshape(-1, 6)
    count = 0
    for key in np.unique(rows[:, :2], axis=0):
        b = rows[(rows[:, :2] == key).all(axis=1), 2:]
        b = b[np.isfinite(b).all(axis=1)]
        x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
        iw = np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1)
        ih = np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1)
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        area = b[:, 2] * b[:, 3]
        iou_ = inter / (area[:, None] + area - inter)
        count += int(np.triu(iou_ > 0.9, k=1).sum())
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--crowded", action="store_true", help="random overlapping boxes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        ws = init_workspace(f"{tmp}/ws")
        t0 = time.perf_counter()
        planted = fill(ws, args.images, args.boxes, args.seed, args.crowded)
        t_fill = time.perf_counter() - t0
        runs = [timed(check_dataset, ws, "bench") for _ in range(args.repeat)]
        report, wall, cpu = min(runs, key=lambda run: run[1])
        with ws.engine.connect() as conn:  # calibration: how fast is this machine right now?
            _, t_scan, _ = timed(lambda: conn.exec_driver_sql("SELECT sum(x) FROM box").all())
        found = {c.key: c.count for c in report.checks}
        if args.crowded:  # random overlaps add near-duplicates to the planted ones
            pairs, p_wall, p_cpu = timed(all_pairs_near_duplicates, ws)
            planted["boxes_near_duplicate"] = pairs
        ok = all(found[key] == n for key, n in planted.items())
        ok &= found["images_duplicate"] == (100 if args.images > 100 else 0)
        quality = "planted counts found" if ok else f"MISMATCH {found}"
        rows = [("check_dataset (SQL aggregates)", wall, cpu, 1.0, quality)]
        if args.crowded:
            rows.append(("NumPy all pairs per image (near-duplicates only)", p_wall, p_cpu,
                         p_cpu / cpu, f"{pairs} pairs"))  # fmt: skip
        elif not args.no_baseline:
            base, b_wall, b_cpu = timed(baseline, ws)
            agree = all(base.get(key, 0) == found[key] for key in planted)
            quality = "same box counts as SQL" if agree else f"DISAGREES {dict(base)}"
            rows.append(("Python loop over all rows (box checks only)", b_wall, b_cpu,
                         b_cpu / cpu, quality))  # fmt: skip

    with open("/proc/cpuinfo") as fh:
        cpu_name = next((ln.split(":", 1)[1].strip() for ln in fh if "model name" in ln), "?")
    print(f"{args.images:,} images, {args.boxes:,} boxes; {cpu_name}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; SQLite {sqlite3.sqlite_version}, "
          f"Python {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
          )  # fmt: skip
    print(f"fill {t_fill:.1f} s; check_dataset wall times: "
          f"{', '.join(f'{r[1]:.2f}' for r in runs)} s; one full scan of the box table "
          f"(SELECT sum(x)) {t_scan:.2f} s")  # fmt: skip
    print("| method | wall (s) | CPU (s) | CPU x SQL | quality |")
    print("|---|---:|---:|---:|---|")
    for name, t_wall, t_cpu, ratio, quality in rows:
        print(f"| {name} | {t_wall:.2f} | {t_cpu:.2f} | {ratio:.1f} | {quality} |")


def timed(fn, *args):
    """``(result, wall seconds, CPU seconds of this process)``: SQLite runs in-process, so
    CPU time is the cost itself, while wall time also counts other programs' load."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - w0, time.process_time() - c0


if __name__ == "__main__":
    main()
