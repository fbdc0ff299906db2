"""Benchmark the annotator canvas: frame cost while zooming and panning with many boxes.

Usage::

    .venv/bin/python scripts/bench_annotator.py [--boxes 0,1000,5000] [--frames 240]

Builds a throw-away workspace with the demo dataset, puts N accepted boxes on one 640x480
image, serves it (werkzeug, loopback) and drives Debian's headless Chromium through
Playwright. In the page, every animation frame sends one wheel (zoom) or pointer (pan)
event, for ``--frames`` frames. Prints one table:

* ``task ms/frame``: Chromium's main-thread task time (script, style, layout, paint; CDP
  ``Performance.getMetrics`` TaskDuration) per frame, ratio against 0 boxes;
* ``p95 interval``: the 95th percentile time between frames; 16.7 ms is one frame at 60 Hz,
  the quality column says whether every frame fit in it ("smooth").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip

# Runs in the page: one event per frame, alternating zoom steps and pan drags.
DRIVE = """async (root, frames) => {
  const canvas = document.querySelector('#annotator-canvas');
  const r = canvas.getBoundingClientRect();
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
  const times = [];
  canvas.dispatchEvent(new PointerEvent('pointerdown', {button: 1, buttons: 4,
    clientX: cx, clientY: cy, bubbles: true, pointerId: 1}));
  for (let i = 0; i < frames; i++) {
    if (i % 2) {
      canvas.dispatchEvent(new WheelEvent('wheel', {deltaY: (i % 40 < 20 ? -30 : 30),
        clientX: cx, clientY: cy, bubbles: true, cancelable: true}));
    } else {
      canvas.dispatchEvent(new PointerEvent('pointermove', {buttons: 4, pointerId: 1,
        clientX: cx + 40 * Math.sin(i / 10), clientY: cy, bubbles: true}));
    }
    times.push(await new Promise((done) => requestAnimationFrame(done)));
  }
  canvas.dispatchEvent(new PointerEvent('pointerup', {button: 1, pointerId: 1,
    clientX: cx, clientY: cy, bubbles: true}));
  return times;
}"""


def seed(ws, image_id: int, n: int, rng) -> None:
    from labeler.store.models import Box, Image

    with ws.sessions.begin() as s:
        image = s.get(Image, image_id)
        label = image.dataset.labels[0]
        for _ in range(n):
            w, h = rng.uniform(10, 80, 2)
            x, y = rng.uniform(0, image.width - w), rng.uniform(0, image.height - h)
            s.add(Box(image_id=image_id, label_id=label.id, x=x, y=y, w=w, h=h))


def metric(cdp, name: str) -> float:
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]
                if m["name"] == name)  # fmt: skip


def main() -> None:
    import numpy as np
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from labeler.ingest import ingest
    from labeler.web import create_app
    from labeler.workspace import init_workspace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", default="0,1000,5000")
    parser.add_argument("--frames", type=int, default=240)
    args = parser.parse_args()
    counts = [int(n) for n in args.boxes.split(",")]
    rng = np.random.default_rng(0)

    tmp = Path(tempfile.mkdtemp(prefix="bench-annotator-"))
    ws = init_workspace(tmp / "ws")
    ingest(ws, REPO / "datasets" / "demo" / "images", dataset="demo",
           labels=("RBC", "WBC", "Platelets"), workers=1, progress=False)  # fmt: skip
    for image_id, n in enumerate(counts, start=1):
        seed(ws, image_id, n, rng)
    app = create_app({"WORKSPACE": ws, "SECRET_KEY": "bench-" + "k" * 32})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        for image_id, n in enumerate(counts, start=1):
            page.goto(f"{url}/images/{image_id}")
            page.wait_for_selector("#annotator[data-ready='1']")
            assert page.get_attribute("#annotator", "data-box-count") == str(n)
            page.locator("#annotator").evaluate(DRIVE, 10)  # warm-up
            before = metric(cdp, "TaskDuration")
            stamps = page.locator("#annotator").evaluate(DRIVE, args.frames)
            task_ms = (metric(cdp, "TaskDuration") - before) * 1000 / args.frames
            p95 = float(np.percentile(np.diff(stamps), 95))
            rows.append((n, task_ms, p95))
        browser.close()
    server.shutdown()

    base = rows[0][1] or 1e-9
    cpu = platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"# annotator frame cost, {platform.node()} ({cpu}, {cores} cores, load {load:.1f}), "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print("| boxes | task ms/frame | ratio vs 0 boxes | p95 frame interval ms | quality |")
    print("|------:|--------------:|-----------------:|---------------------:|---------|")
    for n, task_ms, p95 in rows:
        quality = "smooth (60 fps)" if p95 <= 17.5 else f"drops frames (p95 {p95:.0f} ms)"
        print(f"| {n} | {task_ms:.2f} | {task_ms / base:.1f}x | {p95:.1f} | {quality} |")


if __name__ == "__main__":
    main()
