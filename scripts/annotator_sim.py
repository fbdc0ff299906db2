"""(A verbatim copy of the team's shared yardstick, ../shared/tools/annotator_sim.py, so the
end-to-end effort test in tests/web/test_effort.py runs on a clean clone; refresh it from there.)

Simulated annotator: how much human effort does Labeler's find-similar save, through its real API?

usage: annotator_sim.py DATASET_DIR --labeler PATH/TO/bin/labeler [--max-images N]
                        [--policy image|dataset] [--min-score S] [--json OUT]

DATASET_DIR holds boxes.csv (image,label,xmin,ymin,xmax,ymax; pixels) and the images, in
DATASET_DIR/images/ or beside boxes.csv. Only images named in boxes.csv are used (first N by
name with --max-images); they are copied to a temp folder, then `labeler init` + `labeler ingest
--dataset sim --labels <csv labels>` build a temp workspace and `labeler serve --host 127.0.0.1
--port P` runs in the background. The client (stdlib + numpy) talks only HTTP /api/v1:
GET /session (CSRF token, sent as X-CSRF-Token), GET /datasets, GET /datasets/<id>/images,
GET /images/<id>, POST /images/<id>/boxes, POST /images/<id>/find-similar {box_ids},
POST /boxes/decide {ids, versions, status}, PATCH /boxes/<id>, POST /images/<id>/state,
POST /datasets/<id>/propagate {box_ids, scope: all}, GET /jobs/<id>.

Protocol, per image in name order (GT boxes clipped to the image):
  1. GET the image's boxes. Every PROPOSED box, best score first: IoU >= 0.5 with an unmatched GT
     box of its label -> accept (1 decision); else IoU >= 0.3 with any unmatched GT box -> PATCH to
     that box's geometry and label, accepted (1 adjust); else reject (1 decision). Decisions go in
     one bulk /boxes/decide per status, but each box counts as one decision.
     (A wrong-label proposal at IoU >= 0.5 is thus relabelled by PATCH: an adjust.)
  2. If unmatched GT remain: draw one (the label with most unmatched boxes; of those, the box whose
     area is nearest the label's median GT area) = 1 draw, then find-similar with that box as the
     only exemplar = 1 keypress; back to 1. Otherwise mark the image done (1 keypress; `empty`
     when it has no GT boxes).
  policy=dataset: after the first image, one Propagate (box_ids = the boxes drawn on it, at most
  the API's 50, scope all) = 1 keypress; the job is awaited before review goes on (a running job
  would replace the undecided proposals of the image being reviewed).
At the end every image must hold exactly its GT boxes as accepted (one-to-one, same label,
IoU >= 0.5; no extra accepted, nothing left proposed): asserted, exit 1 otherwise.

Effort model: draw a tight box 7.0 s (Papadopoulos et al., ICCV 2017, "Extreme clicking"), verify
a box 1.6 s (Papadopoulos et al., CVPR 2016, "We don't need no bounding-boxes"), a keypress
(find-similar, propagate, done) 0.5 s, adjust a box 3.5 s. Manual = 7.0 s x GT boxes + 0.5 s per
image (done). Per-label rows leave out the per-image keypresses. Latency is the client's wall
time of each find-similar call over loopback. The last line printed is `SUMMARY ...`.
"""
import argparse
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from http.cookiejar import CookieJar

import numpy as np

T_DRAW, T_VERIFY, T_KEY, T_ADJUST = 7.0, 1.6, 0.5, 3.5
ACCEPT_IOU = 0.5  # --accept-iou: a looser proposal of the right label is adjusted, not accepted
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


class ApiError(Exception):
    pass


class Api:
    def __init__(self, base):
        self.base, self.token = base, None
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def call(self, method, path, body=None, timeout=300):
        req = urllib.request.Request(self.base + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        req.add_header("X-Labeler-User", "annotator-sim")
        if self.token:
            req.add_header("X-CSRF-Token", self.token)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise ApiError(f"{method} {path} -> {e.code}: {e.read()[:300].decode(errors='replace')}")


def load_gt(d, max_images):
    src = os.path.join(d, "images") if os.path.isdir(os.path.join(d, "images")) else d
    gt = defaultdict(list)
    with open(os.path.join(d, "boxes.csv"), newline="") as fh:
        for r in csv.DictReader(fh):
            gt[r["image"]].append((r["label"], *(float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax"))))
    names = sorted(n for n in gt if n.lower().endswith(IMAGE_EXT) and os.path.isfile(os.path.join(src, n)))
    missing = sorted(set(gt) - set(names))
    if missing:
        print(f"warning: {len(missing)} image(s) of boxes.csv not found in {src}: {missing[:3]}")
    names = names[:max_images] if max_images else names
    return src, names, {n: gt[n] for n in names}


def ious(box, g):
    """box (x0, y0, x1, y1); g shape (n, 4) in the same corners form -> IoU per row."""
    if not len(g):
        return np.zeros(0)
    iw = np.clip(np.minimum(box[2], g[:, 2]) - np.maximum(box[0], g[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], g[:, 3]) - np.maximum(box[1], g[:, 1]), 0, None)
    inter = iw * ih
    union = (box[2] - box[0]) * (box[3] - box[1]) + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter
    return inter / np.maximum(union, 1e-9)


def corners(b):
    return (b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"])


def xywh(g):
    return {"x": float(g[0]), "y": float(g[1]), "w": float(g[2] - g[0]), "h": float(g[3] - g[1])}


def sh(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout)[-1500:]}")
    return r.stdout.strip()


def start_server(labeler, ws, log_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([labeler, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ws, stdout=log, stderr=subprocess.STDOUT)
    return proc, Api(f"http://127.0.0.1:{port}")


def wait_ready(proc, api, log_path, timeout=60):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            with open(log_path) as fh:
                raise RuntimeError(f"labeler serve exited ({proc.returncode}): {fh.read()[-2000:]}")
        try:
            api.token = api.call("GET", "/session", timeout=2)["csrf_token"]
            return
        except (OSError, ApiError):
            time.sleep(0.2)
    raise RuntimeError(f"labeler serve did not answer GET /api/v1/session within {timeout} s")


class Sim:
    def __init__(self, api, min_score):
        self.api, self.extra = api, ({} if min_score is None else {"min_score": min_score})
        self.lab = defaultdict(Counter)
        self.origin = Counter()  # (where the proposal came from, outcome) -> count
        self.fs_ms, self.fs_n, self.fs_fail, self.acc_iou = [], [], [], []

    def review(self, im, labels, g, median, origin):
        """Annotate one image to completion; returns the ids of the boxes drawn on it."""
        api, matched, drawn, src = self.api, np.zeros(len(g), bool), [], origin
        area = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) if len(g) else np.zeros(0)
        while True:
            boxes = api.call("GET", f"/images/{im['id']}")["boxes"]
            todo = sorted((b for b in boxes if b["status"] == "proposed"), key=lambda b: -(b["score"] or 0))
            verdict = {"accepted": [], "rejected": []}
            for b in todo:
                v = ious(corners(b), g)
                v[matched] = -1.0
                same = np.where(labels == b["label"], v, -1.0)
                if len(g) and same.max() >= ACCEPT_IOU:
                    j, what, lab = int(same.argmax()), "accept", b["label"]
                    verdict["accepted"].append(b)
                    self.acc_iou.append(float(same[j]))
                elif len(g) and v.max() >= 0.3:
                    j, what = int(v.argmax()), "adjust"
                    lab = str(labels[j])
                    api.call("PATCH", f"/boxes/{b['id']}", {**xywh(g[j]), "label": lab,
                             "status": "accepted", "version": b["version"]})
                else:
                    j, what, lab = None, "reject", b["label"]
                    verdict["rejected"].append(b)
                    full = ious(corners(b), g)  # a reject over an object already labelled is a duplicate
                    self.origin["reject-kind", "duplicate" if len(g) and full.max() >= 0.3 else "background"] += 1
                self.lab[lab][what + "s"] += 1
                self.origin[src, what] += 1
                if j is not None:
                    matched[j] = True
            for status, bs in verdict.items():
                if bs:
                    api.call("POST", "/boxes/decide", {"ids": [b["id"] for b in bs], "status": status,
                                                      "versions": [b["version"] for b in bs]})
            left = np.flatnonzero(~matched)
            if not len(left):
                break
            count = Counter(labels[left].tolist())
            lab = max(count, key=lambda k: (count[k], k))
            j = min((i for i in left if labels[i] == lab), key=lambda i: abs(area[i] - median[lab]))
            box = api.call("POST", f"/images/{im['id']}/boxes", {"label": lab, **xywh(g[j])})
            matched[j] = True
            drawn.append(box["id"])
            self.lab[lab]["draws"] += 1
            self.lab[lab]["find_similar"] += 1
            t0 = time.perf_counter()
            try:
                found = api.call("POST", f"/images/{im['id']}/find-similar", {"box_ids": [box["id"]], **self.extra})
            except ApiError as exc:  # e.g. an exemplar too small or flat: the keypress found nothing
                found = {"proposals": []}
                self.fs_fail.append(f"{im['path']}: {exc}")
            self.fs_ms.append(1000 * (time.perf_counter() - t0))
            self.fs_n.append(len(found["proposals"]))
            src = "find-similar"
        api.call("POST", f"/images/{im['id']}/state", {"state": "done" if len(g) else "empty"})
        return drawn


def propagate(api, ds_id, box_ids, extra):
    t0 = time.perf_counter()
    job_id = api.call("POST", f"/datasets/{ds_id}/propagate", {"box_ids": box_ids[:50], "scope": "all", **extra})["job_id"]
    while (job := api.call("GET", f"/jobs/{job_id}"))["status"] in ("queued", "running"):
        time.sleep(0.2)
    job["seconds"] = time.perf_counter() - t0
    job["proposals"] = api.call("GET", f"/datasets/{ds_id}")["counts"]["undecided"]
    job["exemplars"], job["drawn"] = len(box_ids[:50]), len(box_ids)  # the API takes at most 50
    return job


def verify(api, images, gts):
    """Accepted boxes == GT, one-to-one at IoU >= 0.5 with the same label; nothing left proposed."""
    problems, tp, n_acc = [], 0, 0
    for im in images:
        labels, g = gts[im["path"]]
        cur = api.call("GET", f"/images/{im['id']}")
        acc = [b for b in cur["boxes"] if b["status"] == "accepted"]
        n_acc += len(acc)
        used = np.zeros(len(g), bool)
        for b in acc:
            v = np.where((labels == b["label"]) & ~used, ious(corners(b), g), -1.0)
            if len(g) and v.max() >= 0.5:
                used[int(v.argmax())] = True
        tp += int(used.sum())
        undecided = sum(b["status"] == "proposed" for b in cur["boxes"])
        if not used.all() or len(acc) != len(g) or undecided or cur["state"] not in ("done", "empty"):
            problems.append(f"{im['path']}: {used.sum()}/{len(g)} GT found, {len(acc)} accepted, "
                            f"{undecided} undecided, state {cur['state']}")
    return tp, n_acc, problems


def seconds(c):
    return T_DRAW * c["draws"] + T_VERIFY * (c["accepts"] + c["rejects"]) + T_ADJUST * c["adjusts"] + T_KEY * c["find_similar"]


def row(name, c, tool, manual, images=""):
    sp = manual / tool if tool else float("inf")
    dpb = c["draws"] / c["gt"] if c["gt"] else 0.0
    return (f"{name:<12}{images!s:>6}{c['gt']:>6}{c['draws']:>6}{c['accepts'] + c['rejects']:>6} "
            f"({c['accepts']:>4},{c['rejects']:>4}){c['adjusts']:>5}{c['find_similar']:>6}"
            f"{tool:>9.1f}{manual:>10.1f}{sp:>8.2f}{dpb:>8.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset_dir")
    ap.add_argument("--labeler", default=shutil.which("labeler") or "labeler")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--policy", choices=("image", "dataset"), default="image")
    ap.add_argument("--min-score", type=float, default=None, help="sent to find-similar/propagate (server default 0.5)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--accept-iou", type=float, default=0.5, help="IoU with GT needed to accept a proposal as it is (else adjust)")
    a = ap.parse_args()
    global ACCEPT_IOU
    ACCEPT_IOU = a.accept_iou
    if os.sep in a.labeler:  # commands run in a temp folder: a relative path must not change meaning
        a.labeler = os.path.abspath(a.labeler)
    set_name = os.path.basename(os.path.normpath(a.dataset_dir))
    src, names, raw = load_gt(a.dataset_dir, a.max_images)
    if not names:
        sys.exit(f"no images of boxes.csv found under {a.dataset_dir}")
    label_names = [k for k, _ in Counter(r[0] for n in names for r in raw[n]).most_common()]
    tmp = tempfile.mkdtemp(prefix="annotator_sim_")
    proc = None
    try:
        os.makedirs(os.path.join(tmp, "images"))
        for n in names:
            os.makedirs(os.path.dirname(os.path.join(tmp, "images", n)), exist_ok=True)
            shutil.copy2(os.path.join(src, n), os.path.join(tmp, "images", n))
        ws = os.path.join(tmp, "ws")
        sh([a.labeler, "init", ws], tmp)
        out = sh([a.labeler, "ingest", os.path.join(tmp, "images"), "--dataset", "sim",
                  "--labels", ",".join(label_names), "-q"], ws)
        print(f"set={set_name} policy={a.policy} ingest: {out.splitlines()[-1]}")
        proc, api = start_server(a.labeler, ws, os.path.join(tmp, "serve.log"))
        wait_ready(proc, api, os.path.join(tmp, "serve.log"))
        ds_id = next(d["id"] for d in api.call("GET", "/datasets") if d["name"] == "sim")
        images, page = [], None
        while True:
            res = api.call("GET", f"/datasets/{ds_id}/images?limit=500" + (f"&page={page}" if page else ""))
            images += res["items"]
            if not (page := res["next"]):
                break
        images = sorted((im for im in images if im["path"] in raw), key=lambda im: im["path"])
        lost = sorted(set(names) - {im["path"] for im in images})
        if lost:
            print(f"warning: {len(lost)} image(s) not in the dataset after ingest (duplicates?): {lost[:3]}")
        gts, clipped = {}, 0
        for im in images:  # the annotator cannot draw past the image edge: clip GT to it
            rows = raw[im["path"]]
            g = np.array([r[1:] for r in rows], float).reshape(-1, 4)
            c = np.clip(g, 0, [im["width"], im["height"]] * 2)
            clipped += int((np.abs(c - g) > 0.5).any(axis=1).sum())
            keep = ((c[:, 2] - c[:, 0]) >= 1) & ((c[:, 3] - c[:, 1]) >= 1)
            gts[im["path"]] = (np.array([r[0] for r in rows])[keep], c[keep])
        all_l = np.concatenate([gts[im["path"]][0] for im in images])
        all_g = np.concatenate([gts[im["path"]][1] for im in images])
        all_a = (all_g[:, 2] - all_g[:, 0]) * (all_g[:, 3] - all_g[:, 1])
        median = {lab: float(np.median(all_a[all_l == lab])) for lab in set(all_l.tolist())}
        sim, job, t_start = Sim(api, a.min_score), None, time.perf_counter()
        for lab in all_l.tolist():
            sim.lab[lab]["gt"] += 1
        for k, im in enumerate(images):
            origin = "propagate" if job else "none"
            drawn = sim.review(im, *gts[im["path"]], median, origin)
            if a.policy == "dataset" and k == 0:
                if len(images) > 1 and drawn:
                    job = propagate(api, ds_id, drawn, sim.extra)
                else:
                    print("note: policy=dataset but nothing to propagate (one image, or no box drawn)")
        wall = time.perf_counter() - t_start
        tp, n_acc, problems = verify(api, images, gts)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    tot = Counter()
    for c in sim.lab.values():
        tot.update(c)
    n_img, prop_key = len(images), 1 if job else 0
    tool = seconds(tot) + T_KEY * (n_img + prop_key)
    manual = T_DRAW * tot["gt"] + T_KEY * n_img
    print(f"\n{'label':<12}{'images':>6}{'GT':>6}{'draws':>6}{'decis':>6} {'(acc,  rej)':<11}{'adj':>5}"
          f"{'F':>6}{'tool_s':>9}{'manual_s':>10}{'speedup':>8}{'draw/GT':>8}")
    for lab in sorted(sim.lab, key=lambda k: -sim.lab[k]["gt"]):
        c = sim.lab[lab]
        print(row(lab, c, seconds(c), T_DRAW * c["gt"]))
    print(row("TOTAL", tot, tool, manual, n_img))
    print("(label rows leave out the 0.5 s per-image done keypress" + (" and the propagate keypress)" if job else ")"))
    med = statistics.median(sim.fs_ms) if sim.fs_ms else float("nan")
    p90 = float(np.percentile(sim.fs_ms, 90)) if sim.fs_ms else float("nan")
    fs_acc = sum(v for (o, r), v in sim.origin.items() if o == "find-similar" and r in ("accept", "adjust"))
    fs_tot = sum(v for (o, _), v in sim.origin.items() if o == "find-similar")
    print(f"find-similar: {len(sim.fs_ms)} calls, round trip median {med:.0f} ms, p90 {p90:.0f} ms, "
          f"max {max(sim.fs_ms, default=float('nan')):.0f} ms; proposals per call median "
          f"{statistics.median(sim.fs_n) if sim.fs_n else 0:.0f}, mean {np.mean(sim.fs_n) if sim.fs_n else 0:.1f}, "
          f"max {max(sim.fs_n, default=0)}; kept (accept/adjust) {fs_acc}/{fs_tot}; failed calls {len(sim.fs_fail)}")
    for f in sim.fs_fail[:3]:
        print(f"  find-similar failed: {f}")
    if job:
        pa = {r: sim.origin["propagate", r] for r in ("accept", "adjust", "reject")}
        print(f"propagate: job {job['status']} in {job['seconds']:.1f} s, {job['done']}/{job['total']} images, "
              f"{job['exemplars']} exemplar(s) of {job['drawn']} drawn, {job['proposals']} proposals: accepted {pa['accept']}, "
              f"adjusted {pa['adjust']}, rejected {pa['reject']}" + (f"; error {job['error']}" if job["error"] else ""))
    print(f"accepted proposals: mean IoU with GT {np.mean(sim.acc_iou) if sim.acc_iou else float('nan'):.3f}; "
          f"GT boxes clipped to the image {clipped}; simulation wall {wall:.1f} s")
    print(f"rejected proposals: {sim.origin['reject-kind', 'duplicate']} over an object already labelled "
          f"(IoU >= 0.3), {sim.origin['reject-kind', 'background']} elsewhere")
    recall = tp / tot["gt"] if tot["gt"] else 1.0
    precision = tp / n_acc if n_acc else 1.0
    print(f"check: recall {recall:.4f}, precision {precision:.4f} at IoU 0.5 ({tp}/{tot['gt']} GT, {n_acc} accepted)")
    for p in problems[:5]:
        print(f"CHECK FAILED: {p}")
    speedup = manual / tool if tool else float("inf")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"set": set_name, "policy": a.policy, "images": n_img, "totals": dict(tot),
                       "per_label": {k: dict(v) for k, v in sim.lab.items()}, "tool_s": tool, "manual_s": manual,
                       "speedup": speedup, "find_similar_ms": sim.fs_ms, "proposals_per_call": sim.fs_n,
                       "find_similar_failures": sim.fs_fail, "propagate": job, "recall": recall,
                       "precision": precision, "problems": problems, "clipped_gt": clipped,
                       "origin": {f"{o}:{r}": v for (o, r), v in sim.origin.items()}}, fh, indent=1)
    print(f"SUMMARY accept_iou={ACCEPT_IOU} set={set_name} policy={a.policy} images={n_img} gt={tot['gt']} speedup={speedup:.2f} "
          f"draws_per_box={tot['draws'] / max(tot['gt'], 1):.3f} tool_s={tool:.0f} manual_s={manual:.0f} "
          f"find_similar_ms={med:.0f} recall={recall:.3f} ok={not problems}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
