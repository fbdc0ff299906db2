#!/usr/bin/env python
"""Benchmark labeler.matching against Multi-Template-Matching (MTM) and plain OpenCV.

Protocol (see BENCHMARKS.md, "Matching"): for each image and each class with at
least 5 boxes, the k boxes whose area is nearest the class median are the
exemplars; proposals overlapping an exemplar (IoU >= 0.5) are dropped; the
rest are scored against the class's other boxes at IoU >= 0.5, pooled over
all (image, class) queries: AP@0.5 (all-point interpolation), best F1 and the
recall at that F1, and the median wall time per image. All methods run in
this one process on one thread (cv2.setNumThreads(1)) on the same images, so
speed ratios are comparable within a run even when the machine is busy.

Usage: .venv/bin/python scripts/bench_matching.py [--limit N] [--k 1 3] [--methods ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labeler.imageio import read_image  # noqa: E402
from labeler.matching import Exemplar, Matcher, iou_matrix, nms  # noqa: E402

MTM_SCALES = (0.8, 0.9, 1.0, 1.1, 1.25)
THRESHOLD = 0.3  # lowest score kept by every method (MTM's score_threshold)


def find_dataset(arg: str | None) -> Path:
    for cand in ([Path(arg)] if arg else []) + [
        REPO.parent / "shared" / "datasets" / "blood-cells",
        REPO / "datasets" / "demo",
    ]:
        if (cand / "boxes.csv").is_file():
            return cand
    raise SystemExit("no dataset found (images/ + boxes.csv)")


def load_boxes(root: Path) -> dict[str, dict[str, np.ndarray]]:
    """image name -> label -> (N, 4) float (x, y, w, h)."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    with open(root / "boxes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            x0, y0, x1, y1 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            out[row["image"]][row["label"]].append((x0, y0, x1 - x0, y1 - y0))
    return {im: {lab: np.array(b) for lab, b in d.items()} for im, d in sorted(out.items())}


def pick_exemplars(boxes: np.ndarray, k: int) -> np.ndarray:
    area = boxes[:, 2] * boxes[:, 3]
    return np.argsort(np.abs(area - np.median(area)), kind="stable")[:k]


def crop(img: np.ndarray, box) -> np.ndarray:
    x, y, w, h = (int(round(v)) for v in box)
    return img[y : y + h, x : x + w]


def run_labeler(img, ex_boxes, label):
    exs = [Exemplar(img, tuple(b), label) for b in ex_boxes]
    props = Matcher(exs, min_score=THRESHOLD).match(img, exclude=[tuple(b) for b in ex_boxes])
    return np.array([p.box for p in props]).reshape(-1, 4), np.array([p.score for p in props])


def _scaled_templates(gray, ex_boxes):
    out = []
    for b in ex_boxes:
        t = crop(gray, b)
        for s in MTM_SCALES:
            size = (max(4, round(t.shape[1] * s)), max(4, round(t.shape[0] * s)))
            out.append(cv2.resize(t, size, interpolation=cv2.INTER_AREA if s < 1 else 1))
    return out


def run_mtm(img, ex_boxes, label):
    import MTM

    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    temps = [(label, t) for t in _scaled_templates(gray, ex_boxes)]
    hits = MTM.matchTemplates(
        temps, gray, method=cv2.TM_CCOEFF_NORMED, score_threshold=THRESHOLD, maxOverlap=0.3
    )
    boxes = np.array([h[1] for h in hits], dtype=float).reshape(-1, 4)
    return boxes, np.array([h[2] for h in hits], dtype=float)


def run_opencv(img, ex_boxes, label):
    """Plain cv2.matchTemplate per template (MTM's scales), 3x3 peaks, one NMS."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    boxes, scores = [], []
    for t in _scaled_templates(gray, ex_boxes):
        res = cv2.matchTemplate(gray, t, cv2.TM_CCOEFF_NORMED)
        peaks = (res >= cv2.dilate(res, np.ones((3, 3), np.uint8))) & (res >= THRESHOLD)
        idx = np.flatnonzero(peaks)
        r, c = np.divmod(idx, res.shape[1])
        h, w = t.shape
        boxes.append(np.column_stack([c, r, np.full(len(idx), w), np.full(len(idx), h)]))
        scores.append(res.ravel()[idx])
    b, s = np.concatenate(boxes).astype(float), np.concatenate(scores).astype(float)
    keep = nms(b, s, 0.3)
    return b[keep], s[keep]


METHODS = {"labeler": run_labeler, "mtm": run_mtm, "opencv": run_opencv}


def evaluate(records, n_gt):
    """records: list of (score, is_tp) pooled; returns AP, best F1, recall@F1."""
    if not records or n_gt == 0:
        return 0.0, 0.0, 0.0
    rec = sorted(records, key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in rec])
    fp = np.cumsum([not r[1] for r in rec])
    recall = tp / n_gt
    precision = tp / (tp + fp)
    # All-point interpolated AP (VOC 2010+).
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    ap = float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    i = int(np.argmax(f1))
    return ap, float(f1[i]), float(recall[i])


def score_query(boxes, scores, gt):
    """Greedy match, best score first, IoU >= 0.5 -> list of (score, is_tp)."""
    out = []
    if len(gt) == 0:
        return [(float(s), False) for s in scores]
    ious = iou_matrix(boxes, gt) if len(boxes) else np.zeros((0, len(gt)))
    taken = np.zeros(len(gt), bool)
    for i in np.argsort(-scores, kind="stable"):
        cand = np.where(~taken, ious[i], 0.0)
        j = int(np.argmax(cand))
        ok = cand[j] >= 0.5
        if ok:
            taken[j] = True
        out.append((float(scores[i]), bool(ok)))
    return out


def interactive_ms(root: Path, names: list[str], data, repeats: int = 15) -> tuple[float, float]:
    """One exemplar on a 1920x1080 mosaic of dataset images: build + match,
    median (wall ms, CPU ms)."""
    tiles = [read_image(root / "images" / n) for n in names[:9]]
    while len(tiles) < 9:
        tiles += tiles
    rows = [
        np.hstack([cv2.resize(t, (640, 480)) for t in tiles[r * 3 : r * 3 + 3]]) for r in range(3)
    ]
    big = np.vstack(rows)[:1080, :1920].copy()
    label = max(data[names[0]], key=lambda lab: len(data[names[0]][lab]))
    b = data[names[0]][label][pick_exemplars(data[names[0]][label], 1)[0]]
    sx, sy = 640 / tiles[0].shape[1], 480 / tiles[0].shape[0]
    box = (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        Matcher([Exemplar(big, box, label)], min_score=0.5).match(big, exclude=[box])
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def demo_protocol(root: Path, threshold: float = 0.5) -> list[tuple]:
    """All three labels: the fixed exemplars of ``exemplars.json`` (one Matcher)
    on every image; per label, proposals/precision/recall at ``threshold`` and AP."""
    exs = [
        Exemplar(read_image(root / "images" / e["image"]), tuple(e["box"]), e["label"])
        for e in json.loads((root / "exemplars.json").read_text())
    ]
    matcher, data = Matcher(exs, min_score=THRESHOLD), load_boxes(root)
    recs: dict[str, list] = defaultdict(list)
    n_gt: dict[str, int] = defaultdict(int)
    for name, truth in data.items():
        props = matcher.match(read_image(root / "images" / name))
        for label in sorted({e.label for e in exs}):
            mine = [p for p in props if p.label == label]
            gt = truth.get(label, np.zeros((0, 4)))
            pb = np.array([p.box for p in mine]).reshape(-1, 4)
            recs[label] += score_query(pb, np.array([p.score for p in mine]), gt)
            n_gt[label] += len(gt)
    rows = []
    for label, r in recs.items():
        hits = [ok for s, ok in r if s >= threshold]
        tp = sum(hits)
        prec = tp / len(hits) if hits else 0.0
        rows.append(
            (label, n_gt[label], len(hits), prec, tp / n_gt[label], evaluate(r, n_gt[label])[0])
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", help="folder with images/ and boxes.csv")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--min-boxes", type=int, default=5)
    ap.add_argument("--demo", default=str(REPO / "datasets" / "demo"), help="demo protocol set")
    args = ap.parse_args()

    cv2.setNumThreads(1)
    root = find_dataset(args.dataset)
    data = load_boxes(root)
    names = list(data)[: args.limit or None]
    images = {n: read_image(root / "images" / n) for n in names}
    print(f"dataset {root} : {len(names)} images, {platform.processor() or platform.machine()}")
    rows = []
    for k in args.k:
        # Methods take turns on each image, so load from other processes hits
        # them alike; CPU time (process_time) is reported beside wall time
        # because it barely moves when the machine is shared.
        acc = {m: {"records": [], "n_gt": 0, "wall": [], "cpu": []} for m in args.methods}
        for n in names:
            img = images[n]
            for meth in args.methods:
                fn, a = METHODS[meth], acc[meth]
                wall = cpu = 0.0
                for label, boxes in data[n].items():
                    if len(boxes) < args.min_boxes:
                        continue
                    ex_idx = pick_exemplars(boxes, k)
                    gt = np.delete(boxes, ex_idx, axis=0)
                    t0, c0 = time.perf_counter(), time.process_time()
                    pb, ps = fn(img, boxes[ex_idx], label)
                    wall += time.perf_counter() - t0
                    cpu += time.process_time() - c0
                    if len(pb):  # every method drops proposals that re-find an exemplar
                        keep = iou_matrix(pb, boxes[ex_idx]).max(axis=1) < 0.5
                        pb, ps = pb[keep], ps[keep]
                    a["records"] += score_query(pb, ps, gt)
                    a["n_gt"] += len(gt)
                a["wall"].append(wall * 1e3)
                a["cpu"].append(cpu * 1e3)
        results = {}
        for meth, a in acc.items():
            apv, f1, rec = evaluate(a["records"], a["n_gt"])
            results[meth] = (
                apv,
                f1,
                rec,
                statistics.median(a["wall"]),
                statistics.median(a["cpu"]),
            )
        base = results.get("mtm")
        for meth, (apv, f1, rec, wall, cpu) in results.items():
            ratio = f"{base[4] / cpu:.1f}x" if base and cpu > 0 else "-"
            rows.append((meth, k, apv, f1, rec, wall, cpu, ratio))
    print()
    print(
        "| method | k | AP@0.5 | best F1 | recall@F1 | median ms/img (wall) "
        "| median ms/img (CPU) | speed vs MTM (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for meth, k, apv, f1, rec, wall, cpu, ratio in rows:
        cells = [
            meth,
            k,
            f"{apv:.3f}",
            f"{f1:.3f}",
            f"{rec:.3f}",
            f"{wall:.1f}",
            f"{cpu:.1f}",
            ratio,
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    print()
    print(f"demo protocol ({args.demo}, exemplars.json, one Matcher, threshold 0.5)")
    print("| label | objects | proposals | precision | recall | AP@0.5 |")
    print("|---|---|---|---|---|---|")
    for label, n, props, prec, rec, apv in demo_protocol(Path(args.demo)):
        print(f"| {label} | {n} | {props} | {prec:.2f} | {rec:.2f} | {apv:.3f} |")
    print()
    wall, cpu = interactive_ms(root, names, data)
    print(
        f"interactive (labeler, 1 exemplar, 1920x1080, build + match): "
        f"median {wall:.1f} ms wall, {cpu:.1f} ms CPU (15 runs)"
    )
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
