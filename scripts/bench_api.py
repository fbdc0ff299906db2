"""Benchmark the web API over real HTTP (waitress): find-similar latency and listing at scale.

Usage::

    .venv/bin/python scripts/bench_api.py [--images 100000] [--repeat 20]

Builds a throw-away workspace with the demo dataset, serves it on a free
loopback port, and prints one table:

* ``find-similar``: POST /images/<id>/find-similar with one exemplar on a
  640x480 demo image, warm (decoded image and matcher cached, the normal
  case when pressing F again) against the baseline of a cold cache (decode
  + template bank every call). Quality: recall of the demo's ground-truth
  boxes of that label at IoU >= 0.5.
* listing at ``--images`` synthetic images: dataset counts, first and deep
  pages by keyset cursor, filtered pages; the baseline for the deep page is
  the same page by SQL ``OFFSET``.

``wall`` is the median (and p90) per request; ``cpu`` the process CPU time
per request (client + server, both in this process), which is what matters
on a loaded machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import imagecache  # noqa: E402
from labeler.ingest import ingest  # noqa: E402
from labeler.matching import iou_matrix  # noqa: E402
from labeler.prelabel import interactive  # noqa: E402
from labeler.store.models import Box, Dataset, Image, LabelClass  # noqa: E402
from labeler.web import create_app  # noqa: E402
from labeler.workspace import init_workspace  # noqa: E402

DEMO = ROOT / "datasets" / "demo"


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.token = self.call("GET", "/session")["csrf_token"]

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if method != "GET":
            req.add_header("X-CSRF-Token", self.token)
        with self.opener.open(req, timeout=60) as resp:
            return json.load(resp)


def timed(fn, repeat: int, before=None) -> tuple[list[float], float, object]:
    walls, out = [], None
    cpu0 = time.process_time()
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        out = fn()
        walls.append((time.perf_counter() - t0) * 1000)
    return walls, (time.process_time() - cpu0) * 1000 / repeat, out


def row(name, walls, cpu, baseline=None, quality=""):
    med = statistics.median(walls)
    p90 = sorted(walls)[max(0, int(len(walls) * 0.9) - 1)]
    ratio = f"{med / baseline:.2f}x" if baseline else ""
    base = f"{baseline:.1f}" if baseline else ""
    print(f"| {name} | {med:.1f} | {p90:.1f} | {cpu:.1f} | {base} | {ratio} | {quality} |")


def ground_truth(image_name: str, label: str) -> np.ndarray:
    with (DEMO / "boxes.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["image"] == image_name and r["label"] == label]
    return np.array(
        [
            [
                float(r["xmin"]),
                float(r["ymin"]),
                float(r["xmax"]) - float(r["xmin"]),
                float(r["ymax"]) - float(r["ymin"]),
            ]
            for r in rows
        ]  # fmt: skip
    )


def bench_find_similar(api: Client, ws, repeat: int) -> None:
    item = api.call("GET", "/datasets/1/images?limit=1")["items"][0]
    gt = ground_truth(item["path"], "RBC")
    ex = gt[np.argmax(gt[:, 0] > 5)]
    x, y, w, h = (float(v) for v in ex)
    box = api.call(
        "POST", f"/images/{item['id']}/boxes", {"label": "RBC", "x": x, "y": y, "w": w, "h": h}
    )
    url = f"/images/{item['id']}/find-similar"

    def call():
        return api.call("POST", url, {"box_ids": [box["id"]], "min_score": 0.5})

    def cold():
        imagecache._decoded.cache_clear()
        interactive._MATCHERS.clear()

    cold_walls, cold_cpu, _ = timed(call, repeat, before=cold)
    call()
    walls, cpu, out = timed(call, repeat)
    props = np.array([[p[k] for k in "xywh"] for p in out["proposals"]] + [[x, y, w, h]])
    hit = (iou_matrix(gt, props).max(axis=1) >= 0.5).sum()
    quality = f"{len(out['proposals'])} proposals, recall {hit}/{len(gt)} at IoU 0.5"
    row("find-similar 640x480, cold cache (baseline)", cold_walls, cold_cpu, quality=quality)
    row("find-similar 640x480, warm", walls, cpu, statistics.median(cold_walls), quality)


def fill(ws, n: int) -> tuple[int, int]:
    """Dataset ``big``: ``n`` synthetic images, 2 boxes each, every 10th image undecided."""
    rng = np.random.default_rng(0)
    with ws.sessions.begin() as s:
        ds = Dataset(name="big")
        s.add(ds)
        s.flush()
        labels = [LabelClass(dataset_id=ds.id, name=f"c{i}", colour="#123456") for i in range(3)]
        s.add_all(labels)
        s.flush()
        ds_id, label_ids = ds.id, [lab.id for lab in labels]
    states = np.array(["new", "in_progress", "done", "empty"])[rng.integers(0, 4, n)]
    with ws.engine.begin() as conn:
        start = conn.scalar(select(text("coalesce(max(id), 0)")).select_from(Image.__table__))
        rows = [
            {"id": start + i + 1, "dataset_id": ds_id, "path": f"datasets/big/images/{i:07d}.jpg",
             "sha256": f"{i:064x}", "width": 640, "height": 480, "format": "jpeg",
             "state": str(states[i]), "version": 1, "created_at": datetime.now(UTC),
             "updated_at": datetime.now(UTC)}
            for i in range(n)
        ]  # fmt: skip
        conn.execute(insert(Image.__table__), rows)
        now = datetime.now(UTC)
        boxes = [
            {"image_id": start + i + 1, "label_id": label_ids[(i + k) % 3], "x": 1.0, "y": 1.0,
             "w": 10.0, "h": 10.0, "status": "proposed" if i % 10 == 0 else "accepted",
             "source": "matcher", "is_exemplar": False, "created_at": now, "updated_at": now,
             "version": 1}
            for i in range(n) for k in range(2)
        ]  # fmt: skip
        conn.execute(insert(Box.__table__), boxes)
    return ds_id, start


def bench_listing(api: Client, ws, n: int, repeat: int) -> None:
    t0 = time.perf_counter()
    ds_id, start = fill(ws, n)
    print(f"(filled {n} images + {2 * n} boxes in {time.perf_counter() - t0:.1f} s)")
    deep = start + n - 150
    cases = [
        ("GET /datasets (counts, all datasets)", "/datasets"),
        ("images: first page (100)", f"/datasets/{ds_id}/images"),
        (f"images: deep page (cursor at {n - 150})", f"/datasets/{ds_id}/images?page={deep}"),
        ("images: state=done, deep page", f"/datasets/{ds_id}/images?state=done&page={deep}"),
        ("images: label=c1", f"/datasets/{ds_id}/images?label=c1"),
        ("images: undecided=1", f"/datasets/{ds_id}/images?undecided=1"),
        ("images: undecided=1, deep page", f"/datasets/{ds_id}/images?undecided=1&page={deep}"),
    ]
    offset_sql = text(
        "SELECT id, path, width, height, state FROM image WHERE dataset_id = :d "
        "ORDER BY id LIMIT 101 OFFSET :o"
    )

    def by_offset():
        with ws.engine.connect() as conn:
            return conn.execute(offset_sql, {"d": ds_id, "o": n - 150}).all()

    off_walls, off_cpu, _ = timed(by_offset, repeat)
    for name, url in cases:
        walls, cpu, out = timed(lambda url=url: api.call("GET", url), repeat)
        baseline = statistics.median(off_walls) if "deep page (cursor" in name else None
        quality = f"{len(out['items'])} items" if isinstance(out, dict) else f"{len(out)} datasets"
        row(name, walls, cpu, baseline, quality)
    row("baseline: same deep page by SQL OFFSET (no HTTP)", off_walls, off_cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    from waitress.server import create_server

    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        ingest(ws, DEMO / "images", dataset="demo", labels=("RBC", "WBC", "Platelets"),
               workers=1, progress=False)  # fmt: skip
        app = create_app({"WORKSPACE": ws})
        server = create_server(app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        try:
            api = Client(f"http://127.0.0.1:{server.effective_port}/api/v1")
            machine = platform.processor() or platform.machine()
            print(
                f"{platform.node()}: {machine}, {os.cpu_count()} cores, load average "
                f"{os.getloadavg()[0]:.1f}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
                f"Python {platform.python_version()}"
            )
            print()
            print("| operation | wall median ms | wall p90 ms | cpu ms | baseline ms | ratio "
                  "| quality |")  # fmt: skip
            print("|---|---|---|---|---|---|---|")
            bench_find_similar(api, ws, args.repeat)
            bench_listing(api, ws, args.images, args.repeat)
        finally:
            server.close()
            ws.engine.dispose()


if __name__ == "__main__":
    main()
