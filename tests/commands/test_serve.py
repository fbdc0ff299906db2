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


def test_serve_warns_when_not_on_loopback(demo_ws):
    proc, url = start(demo_ws.root, "--host", "0.0.0.0")
    code, err = stop(proc)
    assert code == 0, err
    assert url.startswith("http://0.0.0.0:")
    assert "Warning: listening on 0.0.0.0" in err


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
