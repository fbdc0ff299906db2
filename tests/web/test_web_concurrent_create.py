"""Twenty first boxes on one new image at once, through a real threaded server, on SQLite
and PostgreSQL: every create is 201 (the client sent no version, so nothing can be stale),
and the image is put in progress once."""

from __future__ import annotations

import http.cookiejar
import json
import threading
import urllib.error
import urllib.request

import pytest
from helpers import threaded_server
from sqlalchemy import func, select

from labeler.store.models import Box, Image

CLIENTS = 20


@pytest.fixture
def server(backend_ws):
    secret = "concurrent-" + "c" * 32
    with threaded_server(backend_ws, secret=secret, name="create-race") as (_app, url):
        yield f"{url}/api/v1"


def _client(base: str):
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{base}/session", timeout=60) as resp:
        token = json.load(resp)["csrf_token"]
    return opener, token


def _create(base: str, opener, token: str, image_id: int, n: int) -> int:
    body = {"label": "RBC", "x": 5 + 10 * n, "y": 5, "w": 8, "h": 8}
    req = urllib.request.Request(
        f"{base}/images/{image_id}/boxes", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )  # fmt: skip
    try:
        with opener.open(req, timeout=120) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_simultaneous_first_boxes_on_a_new_image_never_409(server, backend_ws):
    with backend_ws.sessions() as s:
        image = s.scalar(select(Image).where(Image.state == "new").order_by(Image.id))
        image_id, version = image.id, image.version
    clients = [_client(server) for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)
    statuses: list[int] = []

    def run(n: int) -> None:
        start.wait()
        statuses.append(_create(server, *clients[n], image_id, n))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(statuses) == [201] * CLIENTS
    with backend_ws.sessions() as s:
        image = s.get(Image, image_id)
        assert image.state == "in_progress"
        assert image.version == version + 1  # one state change, one bump
        assert s.scalar(select(func.count(Box.id)).where(Box.image_id == image_id)) == CLIENTS
