"""Two annotators and a reviewer on one dataset at once, through a real threaded server
and real HTTP (bearer tokens), on SQLite and PostgreSQL: no lost or duplicated write,
every box's author right, and a 409 only where two people really edited one box."""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request

from labeler import accounts

BOXES_PER_IMAGE = 3
CONTESTED_IMAGE = 17  # unassigned: both annotators move the same box from the same version


class Client:
    """One person's HTTP client; every status it gets is recorded."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token, self.statuses = base, token, []

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                self.statuses.append(resp.status)
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as exc:
            self.statuses.append(exc.code)
            with exc:
                return exc.code, json.load(exc)


def _annotate(client: Client, image_ids, handoff: queue.Queue, start: threading.Barrier,
              contested: dict) -> None:  # fmt: skip
    start.wait()
    for n, image_id in enumerate(image_ids):
        for k in range(BOXES_PER_IMAGE):
            status, _ = client.call(
                "POST",
                f"/images/{image_id}/boxes",
                {"label": "RBC", "x": 10 + 60 * k, "y": 10 + 5 * n, "w": 40, "h": 40},
            )
            assert status == 201
        status, image = client.call("POST", f"/images/{image_id}/state", {"state": "done"})
        assert status == 200
        handoff.put((image_id, image["version"]))
        if n == 1:  # half-way: both move the shared box, each from the version they read
            contested["ready"].wait()
            status, _ = client.call(
                "PATCH",
                f"/boxes/{contested['box']['id']}",
                {"version": contested["box"]["version"], "x": 5 + n},
            )
            contested["results"].append(status)


def _review(client: Client, handoff: queue.Queue, expected: int) -> None:
    for _ in range(expected):
        image_id, version = handoff.get(timeout=300)
        body = (
            {"state": "approved", "version": version}
            if image_id % 2 == 0
            else {"state": "in_progress", "version": version, "comment": f"fix {image_id}"}
        )
        status, image = client.call("POST", f"/images/{image_id}/state", body)
        assert status == 200, image


def test_two_annotators_and_a_reviewer_at_once(team, team_live_server):
    team_server = team_live_server.url + "/api/v1"
    ann_images, bob_images = list(range(1, 9)), list(range(9, 17))
    accounts.assign(team.ws, dataset="demo", to="ann", count=8, who="ada")
    accounts.assign(team.ws, dataset="demo", to="bob", count=8, who="ada")
    ann, bob, rita = (Client(team_server, team.tokens[n]) for n in ("ann", "bob", "rita"))
    _, shared = rita.call("POST", f"/images/{CONTESTED_IMAGE}/boxes",
                          {"label": "RBC", "x": 100, "y": 100, "w": 30, "h": 30})  # fmt: skip
    contested = {"box": shared, "ready": threading.Barrier(2), "results": []}
    handoff: queue.Queue = queue.Queue()
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as exc:  # reported below: a thread's assert must fail the test
            errors.append(exc)
            contested["ready"].abort()

    threads = [
        threading.Thread(target=guarded, args=(_annotate, ann, ann_images, handoff, start,
                                               contested)),
        threading.Thread(target=guarded, args=(_annotate, bob, bob_images, handoff, start,
                                               contested)),
        threading.Thread(target=guarded, args=(lambda: (start.wait(), _review(rita, handoff,
                                                                              16)),)),
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors

    assert sorted(contested["results"]) == [200, 409]  # a real conflict: exactly one wins
    every = ann.statuses + bob.statuses + rita.statuses
    assert every.count(409) == 1 and all(s in (200, 201, 409) for s in every)
    for image_id in ann_images + bob_images:
        author = "ann" if image_id in ann_images else "bob"
        _, image = rita.call("GET", f"/images/{image_id}")
        assert len(image["boxes"]) == BOXES_PER_IMAGE  # none lost, none twice
        assert {(b["created_by"], b["decided_by"]) for b in image["boxes"]} == {(author, author)}
        if image_id % 2 == 0:
            assert image["state"] == "approved" and image["review"] is None
        else:
            assert image["state"] == "in_progress"
            assert image["review"] == {**image["review"], "comment": f"fix {image_id}",
                                       "by": "rita"}  # fmt: skip
    _, figures = rita.call("GET", "/team/figures")
    rows = {f["name"]: f for f in figures}
    for name in ("ann", "bob"):
        assert rows[name]["images_done"] == 8 and rows[name]["boxes_drawn"] == 24
        assert (rows[name]["approved"], rows[name]["sent_back"]) == (4, 4)
    assert rows["rita"]["images_reviewed"] == 16
