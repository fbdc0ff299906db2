"""Job ownership shared by batch prelabel runs and the web server's background jobs.

A job left "running" by a process that no longer exists will never finish; both owners
check the recorded pid with :func:`pid_alive` and mark such jobs failed.
"""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists on this host (``False`` for no pid)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
