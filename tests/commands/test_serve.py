"""``labeler serve`` really serves: a subprocess on a free port, real HTTP, then a clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

LABELER = Path(sys.executable).with_name("labeler")


def start(ws_root: Path, *args: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(LABELER), "serve", "-w", str(ws_root), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+/)", line)
    if not match:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"no URL printed: {line!r} {out!r} {err!r}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    """Ctrl+C the server; its exit status and stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def test_serve_answers_http_and_stops_cleanly(demo_ws):
    proc, url = start(demo_ws.root)
    try:
        assert url.startswith("http://127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with opener.open(url + "api/v1/session", timeout=10) as resp:
            token = json.load(resp)["csrf_token"]
            assert resp.headers["Server"] == "labeler"
        with opener.open(url + "api/v1/datasets", timeout=10) as resp:
            assert [d["name"] for d in json.load(resp)] == ["demo"]
        with opener.open(url, timeout=10) as resp:
            assert b"demo" in resp.read() and resp.headers["Content-Type"].startswith("text/html")
        req = urllib.request.Request(
            url + "api/v1/images/1/state",
            data=b'{"state": "done"}',
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(req, timeout=10)
        assert refused.value.code == 403
        refused.value.close()
        req.add_header("X-CSRF-Token", token)
        with opener.open(req, timeout=10) as resp:
            assert json.load(resp)["state"] == "done"
    finally:
        code, err = stop(proc)
    assert code == 0, err


def test_serve_refuses_a_public_address_without_accounts(demo_ws):
    proc = subprocess.run(
        [str(LABELER), "serve", "-w", str(demo_ws.root), "--port", "0", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "refusing to listen on 0.0.0.0" in proc.stderr
    assert "labeler user add NAME --role admin" in proc.stderr


def test_serve_on_a_public_address_with_accounts_needs_a_login(demo_ws):
    from labeler.accounts import add_user

    add_user(demo_ws, name="ada", role="admin", password="correct horse")
    proc, url = start(demo_ws.root, "--host", "0.0.0.0")
    try:
        assert url.startswith("http://0.0.0.0:")
        local = url.replace("0.0.0.0", "127.0.0.1")
        with urllib.request.urlopen(local + "healthz", timeout=10) as resp:
            assert json.load(resp)["ok"] is True
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(local + "api/v1/datasets", timeout=10)
        assert refused.value.code == 401
        refused.value.close()
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "everyone needs a login or an API token" in err


def test_serve_without_workspace_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [str(LABELER), "serve", "-w", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "not a Labeler workspace" in proc.stderr or "no Labeler workspace" in proc.stderr


def test_serve_on_a_busy_port_is_a_clear_error(demo_ws):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [str(LABELER), "serve", "-w", str(demo_ws.root), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_serve_behind_a_trusted_tls_proxy_sets_secure_cookies(demo_ws):
    import contextlib
    import http.client
    import re
    import urllib.parse

    from labeler.accounts import add_user

    add_user(demo_ws, name="ada", role="admin", password="correct horse")
    proc, url = start(demo_ws.root, "--trusted-proxy", "127.0.0.1")
    stack = contextlib.ExitStack()
    try:
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=10)
        stack.callback(conn.close)
        conn.request("GET", "/login")
        resp = conn.getresponse()
        token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode())[1]
        cookie = resp.headers["Set-Cookie"].split(";")[0]
        form = {"name": "ada", "password": "correct horse", "csrf_token": token}
        headers = {"Cookie": cookie, "X-Forwarded-Proto": "https",
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        conn.request("POST", "/login", body=urllib.parse.urlencode(form), headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 302
        assert "Secure" in resp.headers["Set-Cookie"]
    finally:
        stack.close()
        code, err = stop(proc)
    assert code == 0, err


def test_no_task_queue_depth_warnings(caplog):
    """One user's page load queues more requests than threads; waitress warned on each."""
    import logging

    from waitress.task import ThreadedTaskDispatcher

    from labeler.commands.serve import quiet_queue_log

    class Task:
        def service(self):
            pass

    quiet_queue_log()
    dispatcher = ThreadedTaskDispatcher()  # no threads started: every task queues
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            dispatcher.add_task(Task())
    assert not [r for r in caplog.records if "queue depth" in r.getMessage()]
    logging.getLogger("waitress.queue").setLevel(logging.NOTSET)


def test_serve_answers_only_its_hosts_and_logs_each_request(demo_ws):
    """``--allowed-host`` adds a name; any other ``Host`` is 400 (DNS rebinding); each
    request is one JSON line on stderr."""
    import http.client
    from urllib.parse import urlsplit

    proc, url = start(demo_ws.root, "--allowed-host", "labeler.example.org")
    port = urlsplit(url).port
    statuses = {}
    try:
        for host in ("labeler.example.org", "rebind.attacker.example", f"127.0.0.1:{port}"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/v1/session", headers={"Host": host})
            statuses[host] = conn.getresponse().status
            conn.close()
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert list(statuses.values()) == [200, 400, 200]
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert [(x["path"], x["status"]) for x in lines] == [("/api/v1/session", s)
                                                        for s in (200, 400, 200)]  # fmt: skip


def test_a_normal_request_is_answered_while_slowloris_holds_connections(demo_ws):
    """Issue 13, defect 3: 120 connections that never finish their headers once filled
    waitress's 100 connection slots, and a normal request waited until they timed out."""
    import socket
    from urllib.parse import urlsplit

    proc, url = start(demo_ws.root)
    parts = urlsplit(url)
    held = []
    try:
        for _ in range(120):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
            sock.sendall(b"GET /api/v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(sock)
        # timeout: the failure mode is waiting for the slow connections' 30-120 s timeout
        with urllib.request.urlopen(url + "api/v1/datasets", timeout=15) as resp:
            assert [d["name"] for d in json.load(resp)] == ["demo"]
    finally:
        for sock in held:
            sock.close()
        code, err = stop(proc)
    assert code == 0, err
