"""A tiny progress reporter shared by the long-running commands.

Usage::

    with progress(total=len(files), label="ingest") as tick:
        for f in files:
            ...
            tick()          # or tick(n) for n items at once

On a terminal it redraws one line on stderr: a bar, ``done/total``, the rate and the
ETA. When stderr is not a terminal (CI logs, pipes, ``CliRunner``) it prints a plain
line every ``interval`` seconds instead, so logs stay readable; ``enabled=False``
silences it entirely.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """``75.4`` -> ``'1:15'``, ``3725`` -> ``'1:02:05'``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(label: str, done: int, total: int | None, elapsed: float, *, bar: bool) -> str:
    """One status line: ``label [####----] 12/40 3.1/s ETA 0:09`` (no bar when ``bar=False``)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [label]
    if total:
        frac = min(done / total, 1.0)
        if bar:
            filled = int(frac * BAR_WIDTH)
            parts.append("[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]")
        parts.append(f"{done}/{total} ({frac:.0%})")
    else:
        parts.append(str(done))
    parts.append(f"{rate:.1f}/s")
    if total and rate > 0 and done < total:
        parts.append(f"ETA {format_duration((total - done) / rate)}")
    else:
        parts.append(f"in {format_duration(elapsed)}")
    return " ".join(parts)


@contextmanager
def progress(
    *,
    total: int | None,
    label: str = "",
    enabled: bool = True,
    stream: TextIO | None = None,
    interval: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Callable[[int], None]]:
    """Report progress of ``total`` items (``None``: unknown) while the block runs.

    Parameters
    ----------
    total : int or None
        Number of items expected; ``None`` shows a count and rate without bar or ETA.
    label : str
        Shown first on each line, e.g. the command name.
    enabled : bool
        ``False`` prints nothing at all.
    stream : text stream, optional
        Where to write; default ``sys.stderr``. A bar is drawn only if it is a TTY.
    interval : float, optional
        Seconds between updates: default 0.1 on a terminal, 5 otherwise.
    clock : callable
        Monotonic time source (tests pass a fake one).

    Yields
    ------
    tick : callable
        ``tick(n=1)`` records ``n`` more items done.
    """
    out = stream if stream is not None else sys.stderr
    tty = enabled and bool(getattr(out, "isatty", lambda: False)())
    every = interval if interval is not None else (0.1 if tty else 5.0)
    start = clock()
    state = {"done": 0, "shown": start, "drawn": False}

    def draw(final: bool = False) -> None:
        line = render(label, state["done"], total, clock() - start, bar=tty)
        if tty:
            out.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            out.write(line + "\n")
        out.flush()
        state["drawn"] = True

    def tick(n: int = 1) -> None:
        state["done"] += n
        if not enabled:
            return
        now = clock()
        if now - state["shown"] >= every:
            state["shown"] = now
            draw()

    try:
        yield tick
    finally:
        # A terminal always gets its final state; a log only if it saw earlier lines.
        if enabled and (tty or state["drawn"]):
            draw(final=True)
