"""labeler.progress: a bar with rate and ETA on a terminal, plain lines in logs."""

from __future__ import annotations

import io

import pytest

from labeler.progress import format_duration, progress, render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "seconds, text", [(0, "0:00"), (9.6, "0:10"), (75.4, "1:15"), (3725, "1:02:05"), (-3, "0:00")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "done, total, elapsed, bar, text",
    [
        (10, 40, 2.0, True, "ingest [######------------------] 10/40 (25%) 5.0/s ETA 0:06"),
        (10, 40, 2.0, False, "ingest 10/40 (25%) 5.0/s ETA 0:06"),
        (40, 40, 8.0, True, "ingest [########################] 40/40 (100%) 5.0/s in 0:08"),
        (7, None, 2.0, True, "ingest 7 3.5/s in 0:02"),
        (0, 5, 0.0, False, "ingest 0/5 (0%) 0.0/s in 0:00"),
    ],
)
def test_render(done, total, elapsed, bar, text):
    assert render("ingest", done, total, elapsed, bar=bar) == text


def test_terminal_gets_a_redrawn_bar_and_a_final_line():
    out, clock = Terminal(), Clock()
    with progress(total=4, label="job", stream=out, clock=clock) as tick:
        for _ in range(4):
            clock.now += 0.5
            tick()
    frames = out.getvalue().split("\r\x1b[K")[1:]
    assert len(frames) == 5  # one per tick (0.5 s > 0.1 s) plus the final one
    assert frames[0].startswith("job [######") and "1/4 (25%) 2.0/s ETA 0:02" in frames[0]
    assert frames[-1] == "job [########################] 4/4 (100%) 2.0/s in 0:02\n"


def test_terminal_redraws_at_most_every_interval():
    out, clock = Terminal(), Clock()
    with progress(total=1000, label="x", stream=out, clock=clock) as tick:
        for _ in range(1000):
            clock.now += 0.001  # 1000 ticks in one second
            tick()
    assert 9 <= out.getvalue().count("\r") <= 12


def test_log_gets_plain_lines_every_interval_and_no_bar():
    out, clock = io.StringIO(), Clock()
    with progress(total=30, label="prelabel", stream=out, clock=clock) as tick:
        for _ in range(30):
            clock.now += 1.0
            tick()
    lines = out.getvalue().splitlines()
    assert len(lines) == 7  # at 5, 10, ..., 30 s, then the final line
    assert lines[0] == "prelabel 5/30 (17%) 1.0/s ETA 0:25"
    assert all("[" not in line and "\r" not in line for line in lines)


def test_quick_job_in_a_log_prints_nothing():
    out = io.StringIO()
    with progress(total=3, label="x", stream=out) as tick:
        tick(3)
    assert out.getvalue() == ""


def test_disabled_prints_nothing_even_on_a_terminal():
    out, clock = Terminal(), Clock()
    with progress(total=3, stream=out, enabled=False, clock=clock) as tick:
        clock.now += 10
        tick(3)
    assert out.getvalue() == ""


def test_final_line_is_drawn_when_the_block_fails():
    out = Terminal()
    with pytest.raises(KeyboardInterrupt), progress(total=9, label="x", stream=out) as tick:
        tick(2)
        raise KeyboardInterrupt
    last = out.getvalue().split("\r\x1b[K")[-1]
    assert "2/9 (22%)" in last and last.endswith("\n")


def test_default_stream_is_stderr(capsys):
    with progress(total=2, label="x", interval=0.0) as tick:
        tick(2)
    captured = capsys.readouterr()
    assert captured.out == "" and "x 2/2 (100%)" in captured.err
