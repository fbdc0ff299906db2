#!/usr/bin/env python
"""Benchmark ``labeler ingest``: N small PNGs (default 10,000 of 256x256) into a fresh workspace.

Protocol (see BENCHMARKS.md, "Ingest"): the images are generated in a temporary
folder with a seeded RNG (smooth gradients plus random discs, so they compress like
real pictures, a few KB each, all distinct). Each run ingests them into its own fresh
workspace (real git + DVC + SQLite). Rows:

- ``naive``: the obvious loop in this process - read, Pillow decode, hash, copy, one
  database transaction per file - on the first ``--baseline`` images (it is slow);
- ``ingest, N worker(s)``: :func:`labeler.ingest.ingest` with ``workers=N``.

Quality: every row must ingest every image it was given and reject none. The ratio is
images/s relative to the naive loop, measured in the same run on the same files.

Usage: .venv/bin/python scripts/bench_ingest.py [--images 10000] [--size 256]
       [--baseline 1000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labeler.ingest import ingest  # noqa: E402
from labeler.workspace import init_workspace  # noqa: E402


def make_images(folder: Path, count: int, size: int, *, seed: int = 0) -> int:
    """Write ``count`` distinct PNGs into ``folder`` (100 per sub-folder); return total bytes."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    total = 0
    for i in range(count):
        a, b, c = rng.uniform(0, 255, size=(3, 3))
        img = np.stack([a[k] * ramp[None, :] + b[k] * ramp[:, None] * 0.5 for k in range(3)], -1)
        img = np.clip(img + c, 0, 255).astype(np.uint8)
        for _ in range(4):
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.circle(img, centre, int(rng.integers(5, size // 4)), colour, -1)
        path = folder / f"{i // 100:03d}" / f"img{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", img)
        path.write_bytes(buf.tobytes())
        total += len(buf)
    return total


def naive(ws, src: Path, limit: int) -> int:
    """The straightforward single-process loop ingest replaces."""
    from PIL import Image as PILImage

    from labeler.store.models import Image
    from labeler.store.queries import get_or_create_dataset

    with ws.sessions.begin() as s:
        dataset_id = get_or_create_dataset(s, "naive").id
    files = sorted(p for p in src.rglob("*.png"))[:limit]
    dest_root = ws.dataset_dir("naive") / "images"
    for path in files:
        data = path.read_bytes()
        with PILImage.open(path) as im:
            im.load()
            width, height = im.size
        rel = path.relative_to(src).as_posix()
        dest = dest_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        with ws.sessions.begin() as s:
            s.add(Image(dataset_id=dataset_id, path=f"datasets/naive/images/{rel}",
                        sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
                        format="png"))  # fmt: skip
    return len(files)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (pool workers): unlike wall
    time, it does not grow when other jobs share the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--baseline", type=int, default=1_000, help="images for the naive loop")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--src", type=Path, default=None,
        help="generate the images here (a new folder) and reuse them on later runs",
    )  # fmt: skip
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp = Path(tmp)
        src = args.src or tmp / "src"
        have = len(list(src.rglob("*.png"))) if src.exists() else 0
        if have not in (0, args.images):
            raise SystemExit(f"{src} holds {have} PNGs, not {args.images}: use a new --src")
        if have == 0:
            t0 = time.perf_counter()
            nbytes = make_images(src, args.images, args.size)
            gen = time.perf_counter() - t0
            print(f"generated {args.images} {args.size}x{args.size} PNGs "
                  f"({nbytes / 1e6:.1f} MB) in {gen:.1f} s", flush=True)  # fmt: skip
        rows = []
        ws = init_workspace(tmp / "ws-naive")
        t0, c0 = time.perf_counter(), cpu_seconds()
        n = naive(ws, src, args.baseline)
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        rows.append(("naive (1 process, 1 transaction/file)", n, seconds, cpu, n, 0))
        for workers in args.workers:
            ws = init_workspace(tmp / f"ws-{workers}")
            t0, c0 = time.perf_counter(), cpu_seconds()
            report = ingest(ws, src, dataset="bench", workers=workers, progress=False)
            seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            label = f"ingest, {workers} worker{'s' if workers > 1 else ''}"
            rows.append((label, args.images, seconds, cpu, report.ingested, len(report.rejected)))
            ws.engine.dispose()
            print(f"{label}: {seconds:.1f} s", flush=True)

    base_rate = rows[0][1] / rows[0][2]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\n{machine} | load average {os.getloadavg()[0]:.1f} | "
          f"Python {platform.python_version()} | {when}\n")  # fmt: skip
    print("| run | images | seconds | images/s | vs naive | CPU ms/image | ingested | rejected |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, n, seconds, cpu, ok, rejected in rows:
        rate = n / seconds
        print(f"| {label} | {n} | {seconds:.1f} | {rate:.0f} | {rate / base_rate:.2f}x "
              f"| {1000 * cpu / n:.2f} | {ok} | {rejected} |")  # fmt: skip


if __name__ == "__main__":
    main()
