"""Running git and DVC for versions, one operation at a time.

DVC fails when two of its commands overlap in one repo, so every git/DVC operation of
:mod:`labeler.versioning` runs under :func:`version_lock`, a cross-process ``flock`` on
``.labeler/version.lock`` shared by the CLI and the web server. A journal file records an
operation in flight; finding it when taking the lock means the previous holder died
(``kill -9``), and :func:`_recover` removes what it left behind (temp snapshot dirs, git's
``index.lock``, DVC's unheld ``.dvc/tmp/lock``).

DVC runs from Labeler's own interpreter (``sys.executable -m dvc``), never a ``dvc`` on PATH,
with absolute paths. Commits get a fallback identity only where git has none configured.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labeler import testhooks
from labeler.workspace import CONFIG_DIR, Workspace

LOCK_FILE = "version.lock"
JOURNAL_FILE = "version.journal"
TMP_DIR = "tmp"
DEFAULT_LOCK_TIMEOUT = 600.0
_FALLBACK_IDENTITY = ["-c", "user.name=Labeler", "-c", "user.email=labeler@localhost"]


class VersionError(RuntimeError):
    """A version operation that cannot go ahead; the message says why and what to do."""


class _Phases:
    """Logs (DEBUG, logger ``labeler.versioning``) how long each step took: see bench_version.

    Each finished step is also a crash point for the kill tests (:mod:`labeler.testhooks`)."""

    def __init__(self, what: str) -> None:
        self.what, self.last = what, time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        logging.getLogger("labeler.versioning").debug(
            "%s: %s took %.2f s", self.what, step, now - self.last
        )
        self.last = now
        testhooks.crash_at(step)


# --- running git and DVC -------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}


def _run(args: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise VersionError(f"{what} failed: " + " | ".join(line for line in detail[-6:] if line))
    return proc.stdout


def git(ws: Workspace, *args: str, identity: bool = False) -> str:
    """Run git in the workspace; ``identity`` adds a fallback author if git has none set."""
    extra = _FALLBACK_IDENTITY if identity and not _has_identity(ws.root) else []
    return _run(["git", *extra, *args], ws.root, f"git {args[0]}")


def _has_identity(root: Path) -> bool:
    proc = subprocess.run(
        ["git", "config", "user.email"], cwd=root, capture_output=True, text=True, env=_env()
    )
    return bool(proc.stdout.strip())


def dvc(ws: Workspace, *args: str) -> str:
    """Run DVC from Labeler's own interpreter (never whatever ``dvc`` is on PATH)."""
    return _run([*testhooks.dvc_command(), *args], ws.root, f"dvc {args[0]}")


# --- the lock ------------------------------------------------------------------------------


@contextmanager
def version_lock(
    ws: Workspace, what: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
) -> Iterator[None]:
    """Hold ``.labeler/version.lock`` (blocking up to ``timeout`` s) around a git/DVC operation."""
    cfg = ws.root / CONFIG_DIR
    cfg.mkdir(exist_ok=True)
    path = cfg / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    raise VersionError(
                        f"timed out after {timeout:.0f} s waiting for {path} "
                        f"(held by {holder}); try again when it finishes"
                    ) from None
                time.sleep(0.2)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}: {what}\n")
            fh.flush()
            _recover(ws)
            journal = cfg / JOURNAL_FILE
            journal.write_text(json.dumps({"pid": os.getpid(), "what": what}), encoding="utf-8")
            try:
                yield
            finally:  # an error we saw is not a crash: only a killed holder leaves the journal
                journal.unlink(missing_ok=True)
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def tmp_dir(ws: Workspace) -> Path:
    """A fresh scratch dir on the workspace's filesystem (so ``os.replace`` can move it in)."""
    path = ws.root / CONFIG_DIR / TMP_DIR / f"version-{os.getpid()}-{time.time_ns()}"
    path.mkdir(parents=True)
    return path


def _recover(ws: Workspace) -> None:
    """Clean up after a version operation that died holding the lock (we hold it now)."""
    for stale in (ws.root / CONFIG_DIR / TMP_DIR).glob("version-*"):
        shutil.rmtree(stale, ignore_errors=True)
    journal = ws.root / CONFIG_DIR / JOURNAL_FILE
    if not journal.exists():
        return
    # Only a Labeler version operation writes to git here while the journal exists, so
    # an index.lock now is the one a killed `git commit` left.
    git_dir = Path(git(ws, "rev-parse", "--absolute-git-dir").strip())
    (git_dir / "index.lock").unlink(missing_ok=True)
    dvc_lock = ws.root / ".dvc" / "tmp" / "lock"
    if dvc_lock.exists():
        with open(dvc_lock, "a") as fh:
            try:  # DVC holds it with flock too: if we can take it, nobody is using it
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            dvc_lock.unlink(missing_ok=True)
    journal.unlink(missing_ok=True)
