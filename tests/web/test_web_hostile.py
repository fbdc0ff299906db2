"""Hostile requests: DNS rebinding (Host), foreign Origin/Referer on writes, integers and
JSON no database or parser can hold, and a full disk. Each is a clear 4xx (507 for the disk)
naming what was wrong, and nothing is stored."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, func, select

from labeler.store.models import Box, Image, LabelClass
from labeler.web import create_app
from labeler.web.guard import allowed_hosts

V1 = "/api/v1"
BOX = {"label": "RBC", "x": 1, "y": 1, "w": 5, "h": 5}


def _request(url: str, method: str, path: str, *, headers: dict, body=None):
    """One raw HTTP request (http.client sends our Host header as given)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                      **headers})  # fmt: skip
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read() or b"null")
    finally:
        conn.close()


def _session(url: str, host: str) -> tuple[str, str]:
    status, headers, body = _request(url, "GET", f"{V1}/session", headers={"Host": host})
    assert status == 200, body
    return body["csrf_token"], headers["Set-Cookie"].split(";")[0]


def _box_count(ws) -> int:
    with ws.sessions() as s:
        return s.scalar(select(func.count(Box.id)))


def _image_id(ws) -> int:
    with ws.sessions() as s:
        return s.scalar(select(func.min(Image.id)))


# --- DNS rebinding and foreign origins -------------------------------------------------------


def test_rebinding_host_gets_no_token_and_cannot_write(live_server):
    port = urlsplit(live_server.url).port
    evil = f"rebind.attacker.example:{port}"
    status, _, body = _request(live_server.url, "GET", f"{V1}/session", headers={"Host": evil})
    assert status == 400 and body["error"] == "bad_host", body
    assert "rebind.attacker.example" in body["detail"]
    token, cookie = _session(live_server.url, f"127.0.0.1:{port}")
    image_id = _image_id(live_server.ws)
    status, _, body = _request(
        live_server.url, "POST", f"{V1}/images/{image_id}/boxes", body=BOX,
        headers={"Host": evil, "X-CSRF-Token": token, "Cookie": cookie},
    )  # fmt: skip
    assert status == 400 and body["error"] == "bad_host", body
    assert _box_count(live_server.ws) == 0


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "LOCALHOST:{port}", "127.0.0.1"])  # fmt: skip
def test_loopback_names_are_served(live_server, host):
    port = urlsplit(live_server.url).port
    _session(live_server.url, host.format(port=port))


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("Origin", "http://evil.example", 403),
        ("Origin", "http://evil.example:{port}", 403),
        ("Origin", "null", 403),
        ("Origin", "http://127.0.0.1:1", 403),  # another server on this machine
        ("Referer", "http://evil.example/page", 403),
        ("Origin", "http://127.0.0.1:{port}", 201),
        ("Referer", "http://127.0.0.1:{port}/images/1", 201),
        (None, None, 201),  # scripts: neither header, the CSRF token decides
    ],
)
def test_writes_from_another_origin_are_refused(live_server, header, value, status):
    port = urlsplit(live_server.url).port
    token, cookie = _session(live_server.url, f"127.0.0.1:{port}")
    extra = {} if header is None else {header: value.format(port=port)}
    got, _, body = _request(
        live_server.url, "POST", f"{V1}/images/{_image_id(live_server.ws)}/boxes", body=BOX,
        headers={"Host": f"127.0.0.1:{port}", "X-CSRF-Token": token, "Cookie": cookie, **extra},
    )  # fmt: skip
    assert got == status, body
    if status == 403:
        assert body["error"] == "foreign_origin" and header in body["detail"]
    assert _box_count(live_server.ws) == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("bound", "extra", "host", "ok"),
    [
        ("127.0.0.1", (), "labeler.example.org", False),
        ("127.0.0.1", ("labeler.example.org",), "labeler.example.org:443", True),
        ("127.0.0.1", ("Labeler.Example.org",), "labeler.example.org", True),
        ("10.1.2.3", (), "10.1.2.3:5000", True),
        ("10.1.2.3", (), "rebind.attacker.example:5000", False),
        ("lab.local", (), "lab.local:5000", True),
    ],
)
def test_allowed_hosts_of_a_bound_address(demo_ws, bound, extra, host, ok):
    app = create_app({"WORKSPACE": demo_ws, "TESTING": True,
                      "ALLOWED_HOSTS": allowed_hosts(bound=bound, extra=extra)})  # fmt: skip
    try:
        resp = app.test_client().get(f"{V1}/session", headers={"Host": host})
        assert (resp.status_code == 200) == ok, resp.get_json()
    finally:
        app.extensions["labeler.jobs"].stop()


# --- input no database or parser can hold ----------------------------------------------------

HUGE = "9" * 5000  # past CPython's 4,300-digit limit on int()
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/images/9223372036854775808"),
        ("GET", f"/images/{2**64}/file"),
        ("GET", f"/images/{10**400}"),
        ("GET", f"/datasets/{2**63}/images"),
        ("PATCH", f"/boxes/{2**63}"),
        ("DELETE", f"/boxes/{2**70}"),
        ("POST", f"/images/{2**63}/boxes"),
        ("GET", f"/jobs/{2**63}"),
    ],
)
def test_ids_past_2_63_in_paths_are_404(api, method, path):
    resp = api.open(V1 + path, method=method, json={"version": 1, **BOX})
    assert resp.status_code == 404, resp.get_json()
    body = resp.get_json()
    assert body["error"] == "not_found" and "_id" in body["detail"] and "2^63" in body["detail"]


@pytest.mark.parametrize(
    ("url", "body", "status", "needle"),
    [
        ("boxes", {**BOX, "x": 2**63}, 422, "'x'"),
        ("boxes", {**BOX, "label_id": 2**63}, 422, "'label_id'"),
        ("boxes", f'{{"label": "RBC", "x": 1, "y": 1, "w": 5, "h": {HUGE}}}', 422, "'h'"),
        ("boxes", f'{{"label": "RBC", "x": 1, "y": 1, "w": 5, "h": 1{"0" * 400}}}', 422, "'h'"),
        ("boxes", '{"label": "RBC", "x": 1, "y": 1, "w": 5, "h": 1e400}', 422, "'h'"),
        ("boxes", {**BOX, "score": 10**400}, 422, "'score'"),
        ("boxes", DEEP, 400, "nested too deep"),
        ("boxes", '{"a": ' + DEEP + "}", 400, "nested too deep"),
        ("decide", {"ids": [2**63], "status": "accepted"}, 400, "ids"),
        ("decide", f'{{"ids": [{HUGE}], "status": "accepted"}}', 400, "ids"),
        ("decide", {"ids": [1], "versions": [2**64], "status": "accepted"}, 400, "versions"),
        ("similar", {"box_ids": [2**63]}, 400, "box_ids"),
        ("similar", {"exemplars": [{**BOX, "image_id": 2**63}]}, 422, "'image_id'"),
        ("propagate", {"box_ids": [1], "n": 2**63}, 422, "'n'"),
        ("propagate", {"box_ids": [1], "after_image_id": 10**30}, 422, "'after_image_id'"),
        ("label", {"name": "x", "hotkey": 2**63}, 422, "hotkey"),
        ("label", f'{{"name": "x", "hotkey": {HUGE}}}', 422, "hotkey"),
    ],
)
def test_unstorable_numbers_and_deep_json_are_4xx(api, demo_ws, url, body, status, needle):
    image_id = _image_id(demo_ws)
    path = {
        "boxes": f"/images/{image_id}/boxes",
        "decide": "/boxes/decide",
        "similar": f"/images/{image_id}/find-similar",
        "propagate": "/datasets/1/propagate",
        "label": "/datasets/1/labels",
    }[url]
    with demo_ws.sessions() as s:
        labels = s.scalar(select(func.count(LabelClass.id)))
    data = body if isinstance(body, str) else json.dumps(body)
    resp = api.post(V1 + path, data=data, content_type="application/json")
    assert resp.status_code == status, resp.get_json()
    assert needle in resp.get_json()["detail"]
    assert _box_count(demo_ws) == 0
    with demo_ws.sessions() as s:
        assert s.scalar(select(func.count(LabelClass.id))) == labels


def test_delete_with_a_version_past_2_63_is_400(api, demo_ws):
    box = api.post(f"{V1}/images/{_image_id(demo_ws)}/boxes", json=BOX).get_json()
    resp = api.delete(f"{V1}/boxes/{box['id']}?version={2**63}")
    assert resp.status_code == 400 and "version" in resp.get_json()["detail"]
    assert _box_count(demo_ws) == 1


# --- a full disk -----------------------------------------------------------------------------


def test_full_disk_is_507_and_loses_nothing_saved(api, demo_ws):
    """SQLite's ``max_page_count`` makes the database full for real: the same
    ``database or disk is full`` a full disk gives."""
    engine = demo_ws.engine
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def cap(dbapi_conn, _record) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", cap)
    engine.dispose()  # every connection from now on is capped
    try:
        image_id = _image_id(demo_ws)
        created, answers = [], set()
        for n in range(400):
            resp = api.post(f"{V1}/images/{image_id}/boxes",
                            json={**BOX, "x": n % 50, "label": "RBC"})  # fmt: skip
            answers.add(resp.status_code)
            if resp.status_code == 201:
                created.append(resp.get_json()["id"])
            else:
                break
        assert resp.status_code == 507, resp.get_json()
        body = resp.get_json()
        assert body["error"] == "disk_full" and "nothing was saved" in body["detail"]
        assert answers <= {201, 507}
        with demo_ws.sessions() as s:
            assert sorted(s.scalars(select(Box.id))) == created
    finally:
        event.remove(engine, "connect", cap)
        engine.dispose()
