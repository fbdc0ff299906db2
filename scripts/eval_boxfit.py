#!/usr/bin/env python
"""Offline yardstick of the box regressor (labeler.ranking.BoxFit): coverage before and after.

Per image in name order and label, one exemplar (the true box nearest the label's median area)
is matched at min_score 0.2 (exemplar excluded); the candidates are tightened by a BoxFit
fitted on the true boxes of the images before it (jittered as the server does, a second
regressor for the second step on boxes jittered NEAR_SPREAD times as far), and coverage of
the label's other true boxes (best candidate IoU >= 0.5 / 0.7 / 0.85) is printed before and
after, with the mean IoU of the best candidates at IoU >= 0.7 (what an accept gives). As the
server does, a tightened box is kept only if it still overlaps the matcher's at KEEP_IOU (the
server also drops near-duplicates and ranks: this is the regressor alone).
``--one-regressor`` applies the first regressor twice (as before the second).

Usage: python scripts/eval_boxfit.py DATASET_DIR [--limit 40] [--one-regressor]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from eval_candidates import load  # noqa: E402

from labeler.matching import Exemplar, Matcher, iou_matrix  # noqa: E402
from labeler.matching.geometry import iou_pairs  # noqa: E402
from labeler.matching.profiles import planes  # noqa: E402
from labeler.prelabel.tightening import KEEP_IOU, fit_stages, stage_rows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--one-regressor", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    data = load(Path(args.dataset), args.limit)
    seen: dict[str, list] = {}  # label -> [(image number, stage rows)], as the server's refit
    before, after, fitted = [], [], 0
    for n, (img, labs) in enumerate(data.values()):
        p = planes(img)
        for label, boxes in labs.items():
            area = boxes[:, 2] * boxes[:, 3]
            k = int(np.argmin(np.abs(area - np.median(area))))
            ex, gt = tuple(boxes[k]), np.delete(boxes, k, axis=0)
            c = Matcher([Exemplar(img, ex, label)]).candidates(img, exclude=[ex], min_score=0.2)
            fit = None
            if label in seen:
                fit = fit_stages(seen[label], second=not args.one_regressor)
            if len(gt) and len(c):
                before += list(iou_matrix(gt, c.boxes).max(1))
                tight = c.boxes if fit is None else fit.tighten(p, c.boxes)
                kept = iou_pairs(tight, c.boxes) >= KEEP_IOU
                tight = np.where(kept[:, None], tight, c.boxes)
                after += list(iou_matrix(gt, tight).max(1))
                fitted += fit is not None
            rows = stage_rows(p, boxes, rng=np.random.default_rng(n))
            seen.setdefault(label, []).append((n, rows))
    print(f"{args.dataset}: {len(before)} true boxes, {fitted} (image, label) pairs with a fit")
    print("| | coverage at IoU 0.5 / 0.7 / 0.85 | mean IoU of those >= 0.7 |\n|---|---|---|")
    for name, v in (("before", np.array(before)), ("after", np.array(after))):
        cover = " / ".join(f"{(v >= t).mean():.3f}" for t in (0.5, 0.7, 0.85))
        print(f"| {name} | {cover} | {v[v >= 0.7].mean():.3f} |")


if __name__ == "__main__":
    main()
