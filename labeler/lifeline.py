"""Pool workers end when the process that started them dies, even by ``kill -9``.

A ``kill -9`` of ``labeler prelabel`` left its pool workers (and, through them, the
resource tracker whose pipe they hold) running, reparented to PID 1 (issue 13). Two
lifelines, set up by :func:`die_with_parent` in each pool initializer:

- Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker when its parent
  dies. Under ``forkserver`` that parent is the fork server, which itself exits when the
  main process is gone; under ``spawn`` it is the main process.
- a daemon thread blocked on :func:`multiprocessing.parent_process`'s sentinel, a pipe the
  main process holds open: it reads EOF when the main process dies (on every platform and
  start method), and the worker then exits at once. If there is no sentinel, the thread
  watches ``os.getppid()`` for a change (reparenting) instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import wait

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_CHECK_SECONDS = 1.0  # only when there is no sentinel to wait on


def die_with_parent() -> None:
    """Make this (worker) process exit when its parent or starter dies. Idempotent enough:
    call it once per process, from the pool initializer."""
    starter_pid = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != starter_pid:  # the parent died before the prctl took effect
            os._exit(1)
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    threading.Thread(
        target=_watch, args=(sentinel, starter_pid), name="labeler-lifeline", daemon=True
    ).start()


def _watch(sentinel: int | None, starter_pid: int) -> None:
    if sentinel is not None:
        wait([sentinel])  # returns only at EOF: the main process has gone
    else:
        while os.getppid() == starter_pid:
            threading.Event().wait(ORPHAN_CHECK_SECONDS)
    os._exit(1)  # no clean-up to do: the parent owns every result and every write
