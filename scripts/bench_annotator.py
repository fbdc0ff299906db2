"""Benchmark the annotator with many boxes: page load time and pan/zoom frame cost.

Usage::

    .venv/bin/python scripts/bench_annotator.py [--boxes 0,2000,5000] [--frames 240] [--loads 3]

Builds a throw-away workspace with the demo dataset, puts N boxes (a tenth of them
proposals, the rest accepted, three labels) on one 640x480 image, serves it (werkzeug,
loopback) and drives Debian's headless Chromium through Playwright at 1920x1080. Prints one
Markdown table:

* ``load ms``: from navigation to the annotator ready with every box and the image drawn
  (median of ``--loads`` page loads); ``api ms``: the ``GET /api/v1/images/<id>`` part of it;
* ``frame ms p50 / p95``: the annotator's own cost of one frame (draw every box and
  publish the state; timed in the page around the requestAnimationFrame callback) while
  every animation frame sends one wheel (zoom) or pointer (pan) event, for ``--frames``;
* ``full redraw ms``: the same for the frame that draws every box again once the view is
  still (past 300 boxes, pan/zoom frames move a picture of the boxes: static/annotator/layer.js);
* ``task ms/frame``: Chromium's whole main-thread task time per frame (script, style,
  layout, paint; CDP ``Performance.getMetrics`` TaskDuration), and ``p95 interval``: the
  95th percentile time between frames (16.7 ms is 60 Hz). On a loaded, GPU-less machine these
  two include the software rasteriser and the other processes' load, not only this code.
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
  const costs = [];
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
    // Our frame callback ran before this one (it was queued first): read what it cost.
    costs.push(Number(canvas.dataset.frameMs || 0));
  }
  canvas.dispatchEvent(new PointerEvent('pointerup', {button: 1, pointerId: 1,
    clientX: cx, clientY: cy, bubbles: true}));
  return {times, costs};
}"""


def seed(ws, image_id: int, n: int, rng) -> None:
    from labeler.store.models import Box, Image

    with ws.sessions.begin() as s:
        image = s.get(Image, image_id)
        labels = image.dataset.labels
        for i in range(n):
            w, h = rng.uniform(10, 80, 2)
            x, y = rng.uniform(0, image.width - w), rng.uniform(0, image.height - h)
            proposed = i % 10 == 0
            s.add(Box(image_id=image_id, label_id=labels[i % len(labels)].id, x=x, y=y, w=w, h=h,
                      status="proposed" if proposed else "accepted",
                      score=float(rng.uniform(0.3, 1)) if proposed else None,
                      source="matcher" if proposed else "user"))  # fmt: skip


def timed_load(page, url: str, image_id: int, accepted: int) -> tuple[float, float]:
    """Milliseconds from navigation start to the annotator ready (every box loaded and the
    image drawn), and the image JSON request's share of it (Resource Timing)."""
    page.goto(f"{url}/images/{image_id}")
    page.wait_for_selector("#annotator[data-ready='1']")
    assert page.get_attribute("#annotator", "data-box-count") == str(accepted)
    ready = page.evaluate("performance.now()")
    api = page.evaluate(
        f"""(() => {{
        const e = performance.getEntriesByType('resource')
          .find((r) => r.name.endsWith('/api/v1/images/{image_id}'));
        return e ? e.responseEnd - e.startTime : NaN; }})()"""
    )
    return ready, api


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
    parser.add_argument("--boxes", default="0,2000,5000")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--loads", type=int, default=3)
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
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        for image_id, n in enumerate(counts, start=1):
            accepted = n - len(range(0, n, 10))
            loads = [timed_load(page, url, image_id, accepted) for _ in range(args.loads)]
            load_ms = float(np.median([ms for ms, _ in loads]))
            api_ms = float(np.median([ms for _, ms in loads]))
            page.locator("#annotator").evaluate(DRIVE, 10)  # warm-up
            before = metric(cdp, "TaskDuration")
            out = page.locator("#annotator").evaluate(DRIVE, args.frames)
            task_ms = (metric(cdp, "TaskDuration") - before) * 1000 / args.frames
            p95 = float(np.percentile(np.diff(out["times"]), 95))
            costs = np.array(out["costs"][1:])
            page.wait_for_timeout(400)  # the view is still: the boxes are drawn crisply again
            settle_ms = float(page.get_attribute("#annotator-canvas", "data-frame-ms") or "nan")
            rows.append(
                (n, load_ms, api_ms, *np.percentile(costs, [50, 95]), settle_ms, task_ms, p95)
            )
        browser.close()
    server.shutdown()

    cpu = platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"# annotator at 1920x1080, {platform.node()} ({cpu}, {cores} cores, load {load:.1f}), "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print("| boxes | load ms | api ms | frame ms p50 / p95 | full redraw ms | task ms/frame "
          "| p95 interval ms |")  # fmt: skip
    print("|------:|--------:|-------:|-------------------:|---------------:|--------------:"
          "|----------------:|")  # fmt: skip
    for n, load_ms, api_ms, f50, f95, settle_ms, task_ms, p95 in rows:
        print(f"| {n} | {load_ms:.0f} | {api_ms:.0f} | {f50:.2f} / {f95:.2f} | {settle_ms:.2f} "
              f"| {task_ms:.2f} | {p95:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
