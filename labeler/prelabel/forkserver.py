"""The process pool's start method: a forkserver that imports the code this process runs.

Workers start from a forkserver (forking a parent that holds threads and database
connections is unsafe), which preloads the matcher once. Python 3.11's forkserver is sent
the parent's ``sys.path`` but does not apply it (``multiprocessing.forkserver.main``
ignores its ``sys_path``): it imports with its own, whose first entry is its working
directory. Run from a folder that holds another checkout (a ``labeler/`` of another
version), or from a script that put its own tree first on ``sys.path``, the workers would
match with other code than the parent's. The server is therefore started here with the
parent's path in ``PYTHONPATH`` and ``PYTHONSAFEPATH`` set, so nothing comes before it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

PATH_ENV = ("PYTHONPATH", "PYTHONSAFEPATH")
_ENV_LOCK = threading.Lock()  # os.environ is the process's: one start at a time


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def import_path() -> list[str]:
    """This process's ``sys.path`` as the server must see it: ``""`` (the working
    directory, for ``python -c`` and the REPL) as the absolute directory it means."""
    cwd = os.getcwd()
    return list(dict.fromkeys(p or cwd for p in sys.path))


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pool_context(preload: Sequence[str]) -> BaseContext:
    """A forkserver context whose server (started now, unless this process has one) has
    imported ``preload`` from this process's import path."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    path = os.pathsep.join(import_path())
    with _ENV_LOCK, _environment({"PYTHONPATH": path, "PYTHONSAFEPATH": "1"}):
        forkserver.ensure_running()
    return ctx
