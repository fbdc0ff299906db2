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

Unset (always, outside tests) they cost one ``os.environ`` lookup per run or step.
"""

from __future__ import annotations

import os
import signal

STOP_AFTER_ENV = "LABELER_TEST_STOP_AFTER"
CRASH_AT_ENV = "LABELER_TEST_CRASH_AT"


def stop_after() -> int | None:
    """N from ``$LABELER_TEST_STOP_AFTER``, else None (no crash)."""
    value = os.environ.get(STOP_AFTER_ENV, "").strip()
    return int(value) if value else None


def crash_at(step: str) -> None:
    """:func:`crash` if ``$LABELER_TEST_CRASH_AT`` names ``step`` (or its first words)."""
    wanted = os.environ.get(CRASH_AT_ENV, "").strip()
    if wanted and (step == wanted or step.startswith(wanted + " ")):
        crash()


def crash() -> None:
    """Die as a crash would: SIGKILL, the worker processes too when this process leads its
    process group (a session of its own, as the kill tests start it), else this process only."""
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
