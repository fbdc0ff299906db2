"""Crash points for the kill-and-resume tests: a crash where the test asks, not where it polls.

A test that kills a run from outside races the run: on a fast (or a busy) machine the run may
be past the point of interest, or finished, before the kill lands. These environment variables
make the run kill itself at a known point instead, as a crash would (SIGKILL, no clean-up):

``LABELER_TEST_STOP_AFTER=N``
    ``labeler prelabel`` (:func:`labeler.prelabel.run.prelabel`) dies right after the N-th
    image's transaction is committed.
``LABELER_TEST_CRASH_AT=STEP``
    ``labeler version create`` dies when it has finished STEP, a step it logs (the first words
    of ``snapshot (exports, manifest)``, ``dvc add``, ``completeness gate``...): ``snapshot``
    dies with the new snapshot written to the scratch folder but not yet swapped in.
``LABELER_TEST_PAUSE=STEP:FILE``
    at STEP (``ingest flush``: files moved in, rows not yet committed) the run creates
    ``FILE.reached`` and waits until FILE exists: a second process can be started while the
    first is known to be at that point, without guessing how long to sleep.
``LABELER_TEST_DVC_CRASH=1``
    every DVC command Labeler runs goes through this module (``python -m labeler.testhooks``),
    which kills the whole process group (Labeler and DVC) when ``dvc add`` has hashed the files
    into the cache but not yet written the ``.dvc`` file: a kill in the middle of ``dvc add``.

Unset (always, outside tests) they cost one ``os.environ`` lookup per run or step.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

STOP_AFTER_ENV = "LABELER_TEST_STOP_AFTER"
CRASH_AT_ENV = "LABELER_TEST_CRASH_AT"
DVC_CRASH_ENV = "LABELER_TEST_DVC_CRASH"
PAUSE_ENV = "LABELER_TEST_PAUSE"


def stop_after() -> int | None:
    """N from ``$LABELER_TEST_STOP_AFTER``, else None (no crash)."""
    value = os.environ.get(STOP_AFTER_ENV, "").strip()
    return int(value) if value else None


def crash_at(step: str) -> None:
    """:func:`crash` if ``$LABELER_TEST_CRASH_AT`` names ``step`` (or its first words)."""
    wanted = os.environ.get(CRASH_AT_ENV, "").strip()
    if wanted and (step == wanted or step.startswith(wanted + " ")):
        crash()


def pause_at(step: str) -> None:
    """Wait at ``step`` until the file ``$LABELER_TEST_PAUSE`` names for it exists."""
    wanted, _, gate = os.environ.get(PAUSE_ENV, "").partition(":")
    if wanted != step or not gate:
        return
    Path(gate + ".reached").touch()
    while not os.path.exists(gate):
        time.sleep(0.05)


def crash() -> None:
    """Die as a crash would: SIGKILL, the worker processes too when this process leads its
    process group (a session of its own, as the kill tests start it), else this process only."""
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def dvc_command() -> list[str]:
    """The command that starts DVC: ``python -m dvc``, or this module under the DVC hook."""
    module = __name__ if os.environ.get(DVC_CRASH_ENV) else "dvc"
    return [sys.executable, "-m", module]


def _dvc_crashing_before_dump() -> int:
    """Run DVC's CLI with ``Stage.dump`` (writing the ``.dvc`` file) replaced by a group kill."""
    from dvc.cli import main
    from dvc.stage import Stage

    def dump(*_args: object, **_kwargs: object) -> None:
        os.killpg(os.getpgid(0), signal.SIGKILL)

    Stage.dump = dump  # type: ignore[method-assign]
    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(_dvc_crashing_before_dump())
