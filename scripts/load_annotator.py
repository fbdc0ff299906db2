"""The simulated annotators of ``scripts/bench_load.py``: one keep-alive HTTP client each,
a seeded mix of what an annotator does, and the ledger of what the server acknowledged.

Each :class:`Annotator` records every 2xx box write as ``(box id, version, FIELDS, kind)``
(the version the answer reported: every write bumps it by one), which
:func:`bench_load.check_writes` compares with the database once the server has stopped.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import traceback
from collections import Counter

MIX = {"list": 10, "open": 30, "draw": 20, "nudge": 15, "decide": 15, "find": 10}
NO_ANSWER = 0  # the status recorded when the connection failed or timed out
TIMEOUT = 120.0
FIELDS = ("x", "y", "w", "h", "status", "label_id")


class Client:
    """One annotator's HTTP side: a keep-alive connection, its cookie and CSRF token."""

    def __init__(self, port: int, name: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.headers = {"Content-Type": "application/json", "X-Labeler-User": name}
        self.timings: list[tuple[str, int, float]] = []  # (operation, status, ms)
        _, body = self.call("session", "GET", "/session")
        self.headers["X-CSRF-Token"] = body["csrf_token"]
        self.timings.clear()

    def call(self, op: str, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body)
        t0 = time.perf_counter()
        try:
            self.conn.request(method, "/api/v1" + path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            self.conn.close()  # http.client reconnects on the next request
            status, raw, resp = NO_ANSWER, b"", None
        self.timings.append((op, status, (time.perf_counter() - t0) * 1000))
        if resp is not None and (cookie := resp.getheader("Set-Cookie")):
            self.headers["Cookie"] = cookie.split(";", 1)[0]
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


class Annotator:
    """What one client does and what the server acknowledged to it (its ledger)."""

    def __init__(self, client: Client, name: str, rng: random.Random, ds_id, images, gt):
        self.api, self.name, self.rng = client, name, rng
        self.ds_id, self.images, self.gt = ds_id, images, gt
        self.image = rng.choice(images)
        self.seen: dict[int, dict] = {}  # box id -> the box as last answered
        self.acked: list[tuple[int, int, tuple, str]] = []  # see the module docstring
        self.drawn = self.unanswered_draws = 0
        self.writes: Counter[str] = Counter()  # acknowledged box writes by kind
        self.crashed = ""

    def _ack(self, box: dict, what: str) -> None:
        self.writes[what] += 1
        self.acked.append((box["id"], box["version"], tuple(box[k] for k in FIELDS), what))
        self.seen[box["id"]] = box

    def _seen(self, status: str) -> list[dict]:
        return [b for b in self.seen.values() if b["status"] == status]

    def run(self, deadline: float) -> None:
        ops, weights = zip(*MIX.items(), strict=True)
        try:
            self.do_draw()  # one write however slow the machine: every run has writes to check
            while time.monotonic() < deadline:
                getattr(self, "do_" + self.rng.choices(ops, weights)[0])()
        except Exception:  # an answer not of the documented shape: reported, and a failure
            self.crashed = f"{self.name}: {traceback.format_exc()}"

    def do_list(self) -> None:
        status, body = self.api.call("list", "GET", f"/datasets/{self.ds_id}/images?limit=100")
        if status == 200 and body["items"] and self.rng.random() < 0.5:
            self.image = self.rng.choice(body["items"])
            self.seen.clear()

    def do_open(self) -> None:
        status, body = self.api.call("open", "GET", f"/images/{self.image['id']}")
        if status == 200:
            self.seen = {b["id"]: b for b in body["boxes"]}

    def do_draw(self) -> None:
        boxes = self.gt[self.image["path"]]
        label, (x, y, w, h) = self.rng.choice(boxes)
        x, y = x + self.rng.uniform(-2, 2), y + self.rng.uniform(-2, 2)
        body = {"label": label, **self._clip(x, y, w, h)}
        status, box = self.api.call("draw", "POST", f"/images/{self.image['id']}/boxes", body)
        if status == 201:
            self.drawn += 1
            self._ack(box, "drawn")
        elif status == NO_ANSWER or status >= 500:
            self.unanswered_draws += 1  # it may or may not have been stored

    def do_nudge(self) -> None:
        mine = self._seen("accepted") + self._seen("proposed")
        if not mine:
            return self.do_open()
        b = self.rng.choice(mine)
        dx, dy = self.rng.choice((-1.0, 1.0)), self.rng.choice((-1.0, 1.0))
        change = self._clip(b["x"] + dx, b["y"] + dy, b["w"], b["h"])
        if b["status"] == "proposed" and self.rng.random() < 0.5:
            change["status"] = "accepted"  # an adjusted proposal
        status, body = self.api.call(
            "nudge", "PATCH", f"/boxes/{b['id']}", {**change, "version": b["version"]}
        )
        if status == 200:
            self._ack(body, "nudged")
        elif status == 409 and body and body.get("current"):
            self.seen[b["id"]] = body["current"]

    def do_decide(self) -> None:
        todo = self._seen("proposed")
        if not todo:  # nothing to review here: press F for proposals
            return self.do_find()
        pick = self.rng.sample(todo, min(len(todo), self.rng.randint(1, 5)))
        body = {"ids": [b["id"] for b in pick], "versions": [b["version"] for b in pick],
                "status": self.rng.choice(("accepted", "accepted", "rejected"))}  # fmt: skip
        status, out = self.api.call("decide", "POST", "/boxes/decide", body)
        if status == 200:
            for box in out["boxes"]:
                self._ack(box, "decided")
        elif status == 409:
            self.do_open()

    def do_find(self) -> None:
        exemplars = self._seen("accepted")
        if not exemplars:
            return self.do_draw()
        body = {"box_ids": [self.rng.choice(exemplars)["id"]]}
        status, out = self.api.call(
            "find", "POST", f"/images/{self.image['id']}/find-similar", body
        )
        if status == 200:
            for box in out["proposals"]:
                self._ack(box, "proposed")
            for box in out["updated"]:
                self._ack(box, "updated")

    def _clip(self, x: float, y: float, w: float, h: float) -> dict:
        width, height = self.image["width"], self.image["height"]
        w, h = min(w, width), min(h, height)
        return {"x": min(max(x, 0.0), width - w), "y": min(max(y, 0.0), height - h),
                "w": w, "h": h}  # fmt: skip
