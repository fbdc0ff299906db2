"""Load: N concurrent annotators against a real ``labeler serve``; no acknowledged write lost.

Usage::

    .venv/bin/python scripts/bench_load.py [--clients 20] [--seconds 20]
        [--db sqlite|postgresql] [--images 24] [--seed 0]

Builds a throw-away workspace (SQLite, or a throw-away PostgreSQL cluster made like the
tests' ``pg_url`` fixture) with the first ``--images`` demo images, the demo's boxes on a
quarter of them (so images open with proposals), and starts ``labeler serve`` (4 threads,
as shipped) on a free loopback port. Each client is a thread with its own keep-alive
connection, session cookie, CSRF token and ``X-Labeler-User``; for ``--seconds`` it does
a seeded mix (``load_annotator.MIX``) of what an annotator does: list images, open one (its
boxes), draw a box (the demo's ground truth, jittered), nudge a box it has seen, accept or
reject proposals it has seen, find similar. The clients share the images, so some edits meet a
newer version: those 409s are the optimistic concurrency doing its job and are listed.

After the server stops, the database is read (SQLAlchemy) and every acknowledged (2xx)
write checked, using the version each answer reported (every write bumps it by one):

* lost: a created box missing; a box older than an acknowledged write's version; a box at
  that version whose fields differ from the answer; two writes acknowledged at one version
  (one overwrote the other without a 409).
* duplicate: more user boxes by a client than it had creates acknowledged or unanswered.

Prints a table (and per-operation latency) and a ``SUMMARY`` line; exits 1 if a write was
lost or duplicated, any request got a 5xx or went unanswered, the server logged a traceback,
or a client crashed (an answer it could not read).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts"), str(ROOT / "tests")]

from annotator_sim import start_server, wait_ready  # noqa: E402
from bench_api import DEMO, ground_truth  # noqa: E402
from load_annotator import MIX, NO_ANSWER, Annotator, Client  # noqa: E402

from labeler.ingest import ingest, load_demo_boxes  # noqa: E402
from labeler.store.models import Box  # noqa: E402
from labeler.workspace import init_workspace  # noqa: E402

LABELS = ("RBC", "WBC", "Platelets")
# Proposals shown about as the old raw 0.5 cut showed them (tests/web/conftest.py, LOOSE_MARGIN)
# rather than by the cold-start ranker's careful rule: plenty to decide, and find similar
# then also updates proposals, so every write path is under load, not the ranking.
SHOW_MARGIN = "-1.25"


def _writes_at(answers: list[tuple[tuple, str]]) -> int:
    """How many writes the answers reporting one version of a box stand for: each create,
    nudge and decision is one; find similar also lists as ``updated`` a proposal it left as
    it was (same version, same fields), which is no write."""
    writes = [fields for fields, what in answers if what != "updated"]
    updates = {fields for fields, what in answers if what == "updated"} - set(writes)
    return len(writes) + len(updates)


def check_writes(sessions, annotators) -> dict:
    """Every acknowledged write of ``annotators`` against the database: ``lost``,
    ``duplicates``, ``checked`` (acknowledged answers looked at) and ``problems`` (the
    first few, for a reader)."""
    acks: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for a in annotators:
        for box_id, version, fields, what in a.acked:
            acks[box_id][version].append((fields, what))
    ids = sorted(acks)
    stored = {}
    with sessions() as s:
        for i in range(0, len(ids), 500):
            for b in s.scalars(select(Box).where(Box.id.in_(ids[i : i + 500]))):
                stored[b.id] = (b.version, (b.x, b.y, b.w, b.h, b.status, b.label_id))
        by_user = dict(
            s.execute(select(Box.created_by, func.count()).where(Box.source == "user")
                      .group_by(Box.created_by)).all()
        )  # fmt: skip
    lost, problems = 0, []
    for box_id, by_version in acks.items():
        overwritten = sum(_writes_at(answers) - 1 for answers in by_version.values())
        top = max(by_version)
        if box_id not in stored:
            bad, why = len(by_version), "missing"
        else:
            version, fields = stored[box_id]
            newest = {f for f, what in by_version[top]}
            bad = version < top or (version == top and fields not in newest)
            why = f"stored v{version} {fields}"
        if bad or overwritten:
            problems.append(f"box {box_id}: {why}; acknowledged {dict(by_version)}")
        lost += bad + overwritten
    duplicates = 0
    for a in annotators:
        extra = by_user.get(a.name, 0) - a.drawn - a.unanswered_draws
        if extra > 0:
            problems.append(f"{a.name}: {extra} user box(es) more than it drew")
            duplicates += extra
    checked = sum(len(v) for by_version in acks.values() for v in by_version.values())
    return {"lost": lost, "duplicates": duplicates, "checked": checked, "problems": problems}


def build_workspace(root: Path, url: str | None, n_images: int):
    """The first ``n_images`` demo images ingested as ``demo``; the demo's boxes on a quarter."""
    names = sorted(p.name for p in (DEMO / "images").glob("*.jpg"))[:n_images]
    src = root / "images"
    src.mkdir(parents=True)
    for name in names:
        shutil.copyfile(DEMO / "images" / name, src / name)
    ws = init_workspace(root / "ws", database_url=url)
    ingest(ws, src, dataset="demo", labels=LABELS, workers=1, progress=False)
    load_demo_boxes(ws, limit_images=max(1, n_images // 4))
    gt = {}
    for name in names:
        gt[name] = [(lab, tuple(map(float, row))) for lab in LABELS
                    for row in ground_truth(name, lab).reshape(-1, 4)]  # fmt: skip
    ws.engine.dispose()
    return ws, gt


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(args, annotators, wall: float, tally: dict) -> tuple[int, int]:
    """Print the tables; returns (5xx, unanswered)."""
    timings = [t for a in annotators for t in a.api.timings]
    statuses = Counter(status for _, status, _ in timings)
    errors = ", ".join(f"{s} x {n}" for s, n in sorted(statuses.items()) if not 200 <= s < 300)
    ms = [t for _, _, t in timings]
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    print("| db | clients | requests | req/s | p50 ms | p99 ms | errors by status "
          "| lost writes | duplicate writes | 5xx |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.db} | {args.clients} | {len(timings)} | {len(timings) / wall:.1f} "
          f"| {percentile(ms, 50):.0f} | {percentile(ms, 99):.0f} | {errors or 'none'} "
          f"| {tally['lost']} | {tally['duplicates']} | {server_errors} |")  # fmt: skip
    print()
    print("| operation | requests | p50 ms | p99 ms | statuses |")
    print("|---|---|---|---|---|")
    for op in MIX:
        rows = [(s, t) for o, s, t in timings if o == op]
        got = Counter(s for s, _ in rows)
        shown = ", ".join(f"{s} x {n}" for s, n in sorted(got.items()))
        t = [t for _, t in rows]
        print(f"| {op} | {len(rows)} | {percentile(t, 50):.0f} | {percentile(t, 99):.0f} "
              f"| {shown} |")  # fmt: skip
    writes = sum((a.writes for a in annotators), Counter())
    print("\nacknowledged box writes: " + ", ".join(f"{k} {v}" for k, v in writes.items()))
    return server_errors, statuses[NO_ANSWER]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(annotators, seconds: float, server_pid: int) -> dict[str, float]:
    """Run every annotator in its own thread for ``seconds``: wall time, and the CPU time
    the server and the clients (this process) used meanwhile."""
    server0, clients0, t0 = _cpu_seconds(server_pid), time.process_time(), time.monotonic()
    threads = [threading.Thread(target=a.run, args=(t0 + seconds,)) for a in annotators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"wall": time.monotonic() - t0, "server_cpu": _cpu_seconds(server_pid) - server0,
            "client_cpu": time.process_time() - clients0}  # fmt: skip


def run(args, tmp: Path, url: str | None) -> int:
    ws, gt = build_workspace(tmp, url, args.images)
    labeler = Path(sys.executable).with_name("labeler")
    os.environ.setdefault("LABELER_SHOW_MARGIN", SHOW_MARGIN)  # the server inherits it
    log = tmp / "serve.log"
    proc, api = start_server(str(labeler), str(ws.root), str(log))
    try:
        wait_ready(proc, api, str(log))
        port = int(api.base.rsplit(":", 1)[1])
        ds_id = next(d["id"] for d in api.call("GET", "/datasets") if d["name"] == "demo")
        images = api.call("GET", f"/datasets/{ds_id}/images?limit=500")["items"]
        annotators = []
        for i in range(args.clients):
            name = f"load-{i:02d}"
            rng = random.Random(args.seed * 1000 + i)
            annotators.append(Annotator(Client(port, name), name, rng, ds_id, images, gt))
        spent = load(annotators, args.seconds, proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)  # a clean stop: waitress closes, the job runner ends
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tally = check_writes(ws.sessions, annotators)
    ws.engine.dispose()
    server_errors, unanswered = report(args, annotators, spent["wall"], tally)
    print(f"CPU over {spent['wall']:.1f} s: server {spent['server_cpu']:.1f} s, "
          f"the {args.clients} clients {spent['client_cpu']:.1f} s")  # fmt: skip
    crashed = [a.crashed for a in annotators if a.crashed]
    for line in tally["problems"][:10] + crashed[:3]:
        print(line)
    # A traceback in the log is a bug even without a 5xx (a background refit, a job).
    text = log.read_text(encoding="utf-8", errors="replace")
    tracebacks = text.count("Traceback (most recent call last)")
    if tracebacks:
        first = text.find("Traceback (most recent call last)")
        print("\nserver log, first traceback:\n" + text[max(0, first - 300) : first + 3000])
    failed = tally["lost"] or tally["duplicates"] or server_errors or unanswered or tracebacks
    ok = not (failed or crashed)
    requests = sum(len(a.api.timings) for a in annotators)
    print(f"\nSUMMARY db={args.db} clients={args.clients} requests={requests} "
          f"writes_checked={tally['checked']} lost={tally['lost']} "
          f"duplicates={tally['duplicates']} 5xx={server_errors} unanswered={unanswered} "
          f"tracebacks={tracebacks} ok={ok}")  # fmt: skip
    return 0 if ok else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--images", type=int, default=24, help="demo images to use (1-24)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}; "
          f"{' '.join(sys.argv[1:])}")  # fmt: skip
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_load_")))
        cluster = nullcontext(None)
        if args.db == "postgresql":
            from helpers import postgres_cluster

            cluster = postgres_cluster("labeler_load")
        url = stack.enter_context(cluster)
        code = run(args, tmp, url)
    sys.exit(code)


if __name__ == "__main__":
    main()
