#!/usr/bin/env python
"""Offline yardstick of matcher candidates: where, how tight, how well ranked, how calibrated.

The situation simulated is the annotator's (``shared/tools/annotator_sim.py``):
per image and label, one exemplar is drawn (the true box whose area is
nearest the label's median on that image), the matcher is called directly
at a low threshold with the exemplar excluded, and its candidates are
compared with the label's other true boxes.

A candidate is a *positive* when, taken best score first, it has IoU >= 0.7
with a not yet matched true box of its label (what the sim accepts at
``--accept-iou 0.7``). Printed per mode:

* candidates per true box; coverage of the true boxes at IoU 0.5/0.7/0.85
  (any candidate); mean IoU of the positives with their true box;
* AUC of the score for positive vs not; calibration (positive rate per score
  bin, and the expected calibration error ECE);
* ms per image (matching every label of the image, one thread).

``--learned`` walks the images in name order and scores each image's
candidates with a per-label :class:`labeler.ranking.Ranker` fitted on the
decisions of the images before it (every candidate of a finished image is
a decision: the image's final boxes are known then), and prints the same
table for the ranker's probability, plus the annotator effort of one round
per (image, label) under the sim's cost model (draw 7.0 s, verify or reject
1.6 s, adjust 3.5 s, key 0.5 s): the exemplar is drawn, proposals are shown
best first under a rule, each is accepted (IoU >= 0.7 with an unmatched
truth), adjusted (IoU >= 0.3) or rejected, the rest is drawn.

Usage: python scripts/eval_candidates.py DATASET_DIR [--limit 40] [--min-score 0.2]
       [--learned] [--raw] [--refine]
       (--raw: match() scores as the only feature, for a before/after; --refine: box refinement)
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labeler.imageio import read_image  # noqa: E402
from labeler.matching import Exemplar, Matcher, iou_matrix  # noqa: E402

T_DRAW, T_VERIFY, T_ADJUST, T_KEY = 7.0, 1.6, 3.5, 0.5
ACCEPT, ADJUST = 0.7, 0.3


def load(root: Path, limit: int):
    """image name -> label -> (N, 4) float (x, y, w, h), truth clipped to the image."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    with open(root / "boxes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            x0, y0, x1, y1 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            out[row["image"]][row["label"]].append((x0, y0, x1, y1))
    names = sorted(out)[: limit or None]
    data = {}
    for n in names:
        img = read_image(root / "images" / n if (root / "images").is_dir() else root / n)
        h, w = img.shape[:2]
        labs = {}
        for lab, rows in out[n].items():
            b = np.array(rows, float)
            b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
            b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
            b[:, 2:] -= b[:, :2]
            b = b[(b[:, 2] >= 4) & (b[:, 3] >= 4)]
            if len(b):
                labs[lab] = b
        data[n] = (img, labs)
    return data


def greedy(boxes: np.ndarray, order: np.ndarray, gt: np.ndarray):
    """Sim decisions for candidates taken in ``order``: per candidate
    ('accept' | 'adjust' | 'reject', IoU with its truth); also truth taken."""
    out = [("reject", 0.0)] * len(boxes)
    taken = np.zeros(len(gt), bool)
    if not len(gt) or not len(boxes):
        return out, taken
    ious = iou_matrix(boxes, gt)
    for i in order:
        cand = np.where(~taken, ious[i], 0.0)
        j = int(np.argmax(cand))
        if cand[j] >= ACCEPT:
            out[i], taken[j] = ("accept", float(cand[j])), True
        elif cand[j] >= ADJUST:
            out[i], taken[j] = ("adjust", float(cand[j])), True
    return out, taken


def queries(data, min_score: float, raw: bool, refine: bool = False):
    """Yield per (image, label): name, label, boxes (N,4), scores (N,), features
    (N,F), truth (M,4), exemplar box, ms; and per image total ms."""
    for name, (img, labs) in data.items():
        t_img = 0.0
        for label, boxes in labs.items():
            area = boxes[:, 2] * boxes[:, 3]
            k = int(np.argmin(np.abs(area - np.median(area))))
            ex = tuple(boxes[k])
            gt = np.delete(boxes, k, axis=0)
            t0 = time.perf_counter()
            m = Matcher([Exemplar(img, ex, label)], min_score=min_score)
            if raw or not hasattr(m, "candidates"):
                props = m.match(img, exclude=[ex])
                b = np.array([p.box for p in props]).reshape(-1, 4)
                s = np.array([p.score for p in props])
                f = s[:, None]
            else:
                c = m.candidates(img, exclude=[ex], refine=refine)
                b, s, f = c.boxes, c.scores, c.features
            dt = (time.perf_counter() - t0) * 1e3
            t_img += dt
            yield name, label, b, s, f, gt, ex, None
        yield name, None, None, None, None, None, None, t_img


def auc(score: np.ndarray, pos: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(pos, score)) if 0 < pos.sum() < len(pos) else float("nan")


def report(title: str, rows: list, n_gt: int, cover: np.ndarray, ms: list) -> None:
    """rows: (score, decision, iou) pooled over queries; cover: best IoU per truth."""
    score = np.array([r[0] for r in rows])
    pos = np.array([r[1] == "accept" for r in rows])
    ious = np.array([r[2] for r in rows])
    print(f"\n## {title}")
    print(
        f"candidates {len(rows)} for {n_gt} true boxes ({len(rows) / max(n_gt, 1):.2f} per box); "
        f"ms/image median {np.median(ms):.1f}, mean {np.mean(ms):.1f}"
    )
    cov = " / ".join(f"{(cover >= t).mean():.2f}" for t in (0.5, 0.7, 0.85))
    print(f"coverage at IoU 0.5/0.7/0.85: {cov}")
    print(
        f"positives {pos.sum()}: mean IoU {ious[pos].mean() if pos.any() else 0:.3f}; "
        f"AUC {auc(score, pos):.3f}"
    )
    bins = np.linspace(0, 1, 11)
    idx = np.clip(np.digitize(score, bins) - 1, 0, 9)
    ece, cells = 0.0, []
    for b in range(10):
        sel = idx == b
        if sel.any():
            ece += sel.sum() / len(score) * abs(score[sel].mean() - pos[sel].mean())
            cells.append(f"{bins[b]:.1f}+:{pos[sel].mean():.2f}({sel.sum()})")
    print(f"calibration (bin: accept rate (n)), ECE {ece:.3f}: " + " ".join(cells))


def effort(queries_out: list, rule, title: str) -> None:
    """One round per (image, label) under the sim's cost model; items are
    ``(boxes, p, truth, *aux)`` and ``rule(p, *aux) -> shown mask``."""
    manual = tool = 0.0
    counts = defaultdict(int)
    for b, p, gt, *aux in queries_out:
        manual += T_DRAW * (len(gt) + 1)
        tool += T_DRAW + T_KEY
        shown = np.flatnonzero(rule(p, *aux)) if len(p) else np.zeros(0, int)
        shown = shown[np.argsort(-p[shown], kind="stable")]
        dec, taken = greedy(b[shown], np.arange(len(shown)), gt)
        for d, _ in dec:
            counts[d] += 1
            tool += T_ADJUST if d == "adjust" else T_VERIFY
        tool += T_DRAW * (len(gt) - taken.sum())
    print(
        f"effort {title}: speed-up {manual / tool:.2f}x (manual {manual:.0f} s, tool {tool:.0f} s; "
        f"accepted {counts['accept']}, adjusted {counts['adjust']}, rejected {counts['reject']})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--min-score", type=float, default=0.2)
    ap.add_argument("--learned", action="store_true")
    ap.add_argument("--raw", action="store_true", help="match() boxes and scores only")
    ap.add_argument("--refine", action="store_true", help="box refinement on")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    data = load(Path(args.dataset), args.limit)
    rows, learned_rows, covers, ms, effort_in, effort_raw = [], [], [], [], [], []
    effort_use: list = []
    n_gt = 0
    rankers: dict = {}
    rank_ms = []
    if args.learned:
        from labeler.ranking import Ranker, choose
    pending: list = []  # decisions of the current image, learned after it is done
    current = None
    for name, label, b, s, f, gt, _ex, t_img in queries(
        data, args.min_score, args.raw, args.refine
    ):
        if current != name:
            for lab, ff, dd in pending:
                rankers[lab] = rankers[lab].update(features=ff, accepted=dd)
            pending, current = [], name
        if label is None:
            ms.append(t_img)
            continue
        n_gt += len(gt)
        cover = iou_matrix(gt, b).max(axis=1) if len(b) and len(gt) else np.zeros(len(gt))
        covers.append(cover)
        dec, _ = greedy(b, np.argsort(-s, kind="stable"), gt)
        rows += [(float(si), d, i) for si, (d, i) in zip(s, dec, strict=True)]
        effort_raw.append((b, s, gt))
        if args.learned:
            r = rankers.setdefault(label, Ranker.prior())
            u = rankers.setdefault((label, "useful"), Ranker.prior())
            t0 = time.perf_counter()
            p = r.predict(features=f)
            pu = u.predict(features=f)
            rank_ms.append((time.perf_counter() - t0) * 1e3)
            learned_rows += [(float(pi), d, i) for pi, (d, i) in zip(p, dec, strict=True)]
            effort_in.append((b, p, gt))
            effort_use.append((b, p, gt, pu))
            pending.append((label, f, np.array([d == "accept" for d, _ in dec], bool)))
            useful = np.array([d != "reject" for d, _ in dec], bool)
            pending.append(((label, "useful"), f, useful))
    cover = np.concatenate(covers) if covers else np.zeros(0)
    print(
        f"dataset {args.dataset}: {len(data)} images, min_score {args.min_score}, "
        f"raw={args.raw}, refine={args.refine}"
    )
    report("matcher score", rows, n_gt, cover, ms)
    effort(effort_raw, lambda p: p >= 0.5, "raw score >= 0.5 (today's server cut)")
    if args.learned:
        report("learned ranker probability", learned_rows, n_gt, cover, ms)
        print(f"ranker predict ms per (image, label): median {np.median(rank_ms):.2f}")
        for thr in (0.25, 0.4, 0.5):
            effort(effort_in, lambda p, t=thr: p >= t, f"ranker p >= {thr}")
        effort(effort_in, lambda p: np.isin(np.arange(len(p)), choose(p)), "choose(p)")
        effort(
            effort_use,
            lambda p, pu: np.isin(np.arange(len(p)), choose(p, p_useful=pu)),
            "choose(p, p_useful) (adjust-aware)",
        )


if __name__ == "__main__":
    main()
