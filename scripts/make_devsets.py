#!/usr/bin/env python
"""Build dev sets of other image kinds than blood smears, as boxes.csv + images/ dirs.

Sets (written under OUT, default /tmp/devsets; not committed):

* ``synth``: 40 grey-ish 640x480 scenes, two labels. ``nut``: bright ellipses
  with a dark hole, 18-80 px, aspect 0.6-1.6, often touching; ``rod``: dark
  capsules, 12-30 x 40-90 px, either orientation. Uneven lighting, texture
  noise, blur, objects cut by the border (their boxes clipped to the image).
  Exact truth: each box is the drawn shape's extent.
* ``hubble``: scikit-image's bundled Hubble deep field (1000x872) cut into
  16 tiles of 250x218 (read in order they behave like one large image
  labelled piece by piece); truth = connected components of a threshold on
  the top-hat filtered grey image, area >= 40 px, one label ``source``.
* ``page``: scikit-image's bundled scanned page (384x191) scaled 3x into one
  1152x573 image; truth = connected components (area >= 8 px at 1x) of an adaptive
  threshold, one label ``char`` over 201 glyphs of many shapes: a label whose
  members do not all look alike (one exemplar matches only its own letter).

Usage: python scripts/make_devsets.py [--out /tmp/devsets] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np


def synth_image(rng: np.random.Generator, width: int = 640, height: int = 480):
    """One scene: ``(H, W, 3)`` uint8 BGR and rows ``(label, x0, y0, x1, y1)``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(-0.08, 0.08, 2)
    base = 120 + gx * (xx - width / 2) + gy * (yy - height / 2)
    tex = cv2.GaussianBlur(rng.normal(0, 18, (height, width)).astype(np.float32), (0, 0), 3)
    img = base + tex
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    canvas = np.repeat(img[:, :, None], 3, axis=2) * tint
    rows = []
    for _ in range(int(rng.integers(12, 30))):
        label = "nut" if rng.random() < 0.65 else "rod"
        cx, cy = rng.uniform(-20, width + 20), rng.uniform(-20, height + 20)
        mask = np.zeros((height, width), np.uint8)
        if label == "nut":
            s = rng.uniform(18, 80)
            a = rng.uniform(0.6, 1.6)
            ax = (max(int(s * np.sqrt(a) / 2), 5), max(int(s / np.sqrt(a) / 2), 5))
            cv2.ellipse(mask, (int(cx), int(cy)), ax, 0, 0, 360, 255, -1)
            hole = np.zeros_like(mask)
            cv2.ellipse(hole, (int(cx), int(cy)), (ax[0] // 3, ax[1] // 3), 0, 0, 360, 255, -1)
            colour = np.array([200, 205, 215], np.float32) * rng.uniform(0.9, 1.1)
            inner = np.array([70, 60, 55], np.float32)
        else:
            long_, short = rng.uniform(40, 90), rng.uniform(12, 30)
            w, h = (long_, short) if rng.random() < 0.5 else (short, long_)
            r = int(min(w, h) // 2)
            x0, y0 = int(cx - w / 2), int(cy - h / 2)
            x1, y1 = int(cx + w / 2), int(cy + h / 2)
            cv2.rectangle(mask, (x0 + r, y0), (x1 - r, y1), 255, -1)
            cv2.rectangle(mask, (x0, y0 + r), (x1, y1 - r), 255, -1)
            for px, py in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
                cv2.circle(mask, (px, py), r, 255, -1)
            hole = np.zeros_like(mask)
            colour = np.array([40, 70, 90], np.float32) * rng.uniform(0.8, 1.2)
            inner = colour
        ys, xs = np.nonzero(mask)
        if len(xs) < 60:
            continue
        m = mask.astype(bool)
        canvas[m] = colour + rng.normal(0, 6, (int(m.sum()), 3))
        canvas[hole.astype(bool)] = inner
        rows.append((label, xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, m))
    # Later objects cover earlier ones: re-derive each box from its visible part,
    # drop the mostly hidden ones (an annotator would not box them either).
    visible = np.zeros((height, width), np.int32) - 1
    for i, r in enumerate(rows):
        visible[r[5]] = i
    out = []
    for i, (label, *_, m) in enumerate(rows):
        ys, xs = np.nonzero(visible == i)
        if len(xs) < 0.6 * m.sum() or len(xs) < 60:
            continue
        out.append((label, int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    img = cv2.GaussianBlur(canvas, (0, 0), 1.0) + rng.normal(0, 5, canvas.shape)
    return np.clip(img, 0, 255).astype(np.uint8), out


def hubble_tiles(grid: int = 4):
    """Tiles of the Hubble deep field and their component boxes."""
    from skimage import data

    rgb = data.hubble_deep_field()
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    top = cv2.morphologyEx(
        grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31))
    )
    _, mask = cv2.threshold(top, 40, 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = grey.shape
    th, tw = h // grid, w // grid
    for r in range(grid):
        for c in range(grid):
            x0, y0 = c * tw, r * th
            rows = []
            for i in range(1, n):
                bx, by, bw, bh, area = stats[i]
                if area < 40:
                    continue
                cx, cy = bx + bw / 2, by + bh / 2
                if x0 <= cx < x0 + tw and y0 <= cy < y0 + th:
                    a0, b0 = max(bx, x0) - x0, max(by, y0) - y0
                    a1, b1 = min(bx + bw, x0 + tw) - x0, min(by + bh, y0 + th) - y0
                    if a1 - a0 >= 4 and b1 - b0 >= 4:
                        rows.append(("source", a0, b0, a1, b1))
            yield f"tile_{r}{c}.png", bgr[y0 : y0 + th, x0 : x0 + tw].copy(), rows


def page_chars(zoom: int = 3):
    """The scanned page, enlarged, and a box per connected glyph."""
    from skimage import data

    grey = data.page()
    ink = cv2.adaptiveThreshold(
        grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 12
    )
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    rows = [
        ("char", zoom * x, zoom * y, zoom * (x + w), zoom * (y + h))
        for x, y, w, h, area in stats[1:].tolist()
        if area >= 8
    ]
    big = cv2.resize(grey, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    yield "page.png", cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), rows


def tiled(scenes, grid: int = 4):
    """The first ``grid**2`` scenes tiled into one image (a large image with hundreds of
    objects; objects cut by a scene's border meet at the seams, as on a real stitched slide)."""
    scenes = list(scenes)[: grid * grid]
    h, w = scenes[0][1].shape[:2]
    big = np.zeros((grid * h, grid * w, 3), np.uint8)
    rows = []
    for k, (_, img, boxes) in enumerate(scenes):
        oy, ox = (k // grid) * h, (k % grid) * w
        big[oy : oy + h, ox : ox + w] = img
        rows += [(lab, x0 + ox, y0 + oy, x1 + ox, y1 + oy) for lab, x0, y0, x1, y1 in boxes]
    yield "big.png", big, rows


def write(root: Path, items) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    with open(root / "boxes.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["image", "label", "xmin", "ymin", "xmax", "ymax"])
        total = 0
        for name, img, rows in items:
            cv2.imwrite(str(root / "images" / name), img)
            for row in rows:
                out.writerow([name, *row])
            total += len(rows)
    print(f"{root}: {total} boxes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/devsets")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    scenes = [(f"synth_{i:03d}.png", *synth_image(rng)) for i in range(40)]
    write(out / "synth", scenes)
    write(out / "synth-large", tiled(scenes))
    write(out / "hubble", hubble_tiles())
    write(out / "page", page_chars())


if __name__ == "__main__":
    main()
