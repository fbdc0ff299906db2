"""A ``kill -9`` of ``labeler prelabel`` leaves no process behind (issue 13, defect 7):
pool workers, the fork server and the resource tracker all end with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from labeler.testhooks import STOP_AFTER_ENV

WAIT_SECONDS = 60  # a bound against hanging, not a timing assertion


def session_members(sid: int) -> list[psutil.Process]:
    """Live (not zombie) processes of session ``sid``: whatever the run left behind."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.parametrize("workers", [2])
def test_kill_9_of_prelabel_leaves_no_worker_behind(full_prelabel_ws, tmp_path, workers):
    ws = full_prelabel_ws
    labeler = Path(sys.executable).parent / "labeler"
    cmd = [str(labeler), "prelabel", "-d", "demo", "--workers", str(workers), "-q"]
    env = {**os.environ, "LABELER_WORKSPACE": str(ws.root), STOP_AFTER_ENV: "2"}
    # A wrapper leads the session, so the self-kill (labeler.testhooks.crash) hits only
    # `labeler prelabel`, not its process group: a `kill -9 PID`, as in the issue.
    # It exits 99 when `labeler prelabel` died of SIGKILL.
    code = "import subprocess, sys; sys.exit(99 if subprocess.call(sys.argv[1:]) == -9 else 1)"
    wrapper = [sys.executable, "-c", code]
    log = tmp_path / "prelabel.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*wrapper, *cmd], env=env, start_new_session=True, stdout=out, stderr=out
        )
    sid = proc.pid
    try:
        returncode = proc.wait(timeout=300)
        left = session_members(sid)
        deadline = time.monotonic() + WAIT_SECONDS
        while still_running(left) and time.monotonic() < deadline:
            time.sleep(0.2)
        alive = still_running(left)
        names = [(p.pid, " ".join(p.cmdline())[:120]) for p in alive]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGKILL)
    assert returncode == 99, log.read_text()  # killed at the hook, workers running
    assert alive == [], f"still running after the kill: {names}"
