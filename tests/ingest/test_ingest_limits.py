"""Ingest under hostile or concurrent input: bombs in bounded memory, two runs at once,
animations named in the report (issue 13)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import encode, pixels
from PIL import Image as PILImage
from sqlalchemy import func, select

from labeler.cli import cli
from labeler.ingest import ingest
from labeler.ingest.spool import Budget, Limits, Refused, spool
from labeler.store.models import Image
from labeler.testhooks import PAUSE_ENV

GIB = 1 << 30
LABELER = str(Path(sys.executable).parent / "labeler")
RSS_LIMIT_KB = 500 * 1024  # ru_maxrss is in KiB on Linux


def set_config(ws, **values) -> None:
    cfg = ws.root / ".labeler" / "config.toml"
    cfg.write_text(cfg.read_text() + "".join(f"\n{k} = {v}" for k, v in values.items()) + "\n")


@pytest.fixture(scope="module")
def zero_bomb(tmp_path_factory) -> Path:
    """A ~3 MB zip of three 1 GiB zero runs plus one real image, as in the issue."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zero = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good.png", encode(".png", 32, 32, seed=1))
        for i in range(3):
            with zf.open(f"zeros-{i}.png", "w", force_zip64=True) as member:
                for _ in range(GIB // len(zero)):
                    member.write(zero)
    assert path.stat().st_size < 8 << 20
    return path


# Runs argv[2:] and writes its peak RSS (KiB) to argv[1]. A child's own ru_maxrss is no use
# here: Linux carries the forking process's high-water mark over exec, so a child of a big
# pytest process reports pytest's size. A small fresh parent reports its child's.
PEAK_RSS = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(rc)"
)


def run_ingest(
    ws, src: Path, *extra: str, env: dict | None = None, peak_rss_to: Path | None = None
) -> subprocess.Popen:
    cmd = [LABELER, "ingest", str(src), "-d", "cells", "-q", *extra]
    if peak_rss_to is not None:
        cmd = [sys.executable, "-c", PEAK_RSS, str(peak_rss_to), *cmd]
    env = {**os.environ, "LABELER_WORKSPACE": str(ws.root), **(env or {})}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize(
    "config, reason",
    [
        ({}, "declares 1073741824 bytes, more than the 268435456-byte cap per file"),
        # declared sizes allowed: the members are streamed, and the total cap stops them
        (
            {"max_file_bytes": 2 * GIB, "max_unpacked_bytes": 64 << 20},
            "the archive unpacks to more than 67108864 bytes (the total cap)",
        ),
        # every cap raised: each 1 GiB member goes to disk in chunks, then is refused unread
        (
            {"max_file_bytes": 2 * GIB, "max_unpacked_bytes": 4 * GIB},
            "not a PNG, JPEG, TIFF, BMP or WebP image (by content)",
        ),
    ],
)
def test_zip_of_zero_runs_is_refused_in_bounded_memory(
    empty_ws, zero_bomb, config, reason, tmp_path
):
    set_config(empty_ws, **config)
    peak = tmp_path / "peak-rss-kib"
    proc = run_ingest(empty_ws, zero_bomb, peak_rss_to=peak)
    out, err = (text.decode() for text in proc.communicate())
    assert proc.returncode == 0, out + err
    for i in range(3):
        assert f"rejected   zeros-{i}.png: {reason}" in out, out
    assert "ingested 1," in out
    assert 0 < int(peak.read_text()) < RSS_LIMIT_KB, f"peak RSS {peak.read_text()} KiB"
    images = empty_ws.dataset_dir("cells") / "images"
    assert sorted(p.name for p in images.iterdir()) == ["good.png"]  # no spooled leftovers


@pytest.mark.parametrize("kind", ["folder", "zip", "tar"])
def test_a_file_over_the_per_file_cap_is_refused_by_name(empty_ws, tmp_path, kind):
    set_config(empty_ws, max_file_bytes=2000)
    tree = {"small.png": encode(".png", 8, 8), "big.bmp": encode(".bmp", 40, 40, seed=2)}
    src = tmp_path / "src"
    if kind == "folder":
        src.mkdir()
        for name, data in tree.items():
            (src / name).write_bytes(data)
    elif kind == "zip":
        with zipfile.ZipFile(src, "w") as zf:
            for name, data in tree.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(src, "w") as tf:
            for name, data in tree.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    report = ingest(reopened(empty_ws), src, dataset="cells", progress=False)
    size = len(tree["big.bmp"])
    assert report.rejected == [
        ("big.bmp", f"declares {size} bytes, more than the 2000-byte cap per file")
    ]
    assert report.ingested == 1


def reopened(ws):
    """The workspace re-read: ``set_config`` changed its config file."""
    from labeler.workspace import Workspace

    return Workspace.open(ws.root)


@pytest.mark.parametrize(
    "data, declared, limits, message",
    [
        (b"x" * 100, 10, Limits(), "more than 10 bytes (its declared size)"),
        (b"x" * 100, 1000, Limits(file_bytes=50), "more than 50 bytes (the per-file cap)"),
        (b"x" * 100, 100, Limits(total_bytes=60), "more than 60 bytes (the total cap)"),
    ],
)
def test_a_stream_is_cut_at_its_declared_size_and_the_caps(
    tmp_path, data, declared, limits, message
):
    with pytest.raises(Refused, match=message.replace("(", r"\(").replace(")", r"\)")):
        spool(io.BytesIO(data), declared=declared, dest=tmp_path / "a.png", budget=Budget(limits))
    assert list(tmp_path.iterdir()) == []  # the partial copy is gone


def test_a_stream_within_its_size_is_spooled_whole(tmp_path):
    data = bytes(range(256)) * 9000  # over two chunks
    tmp = spool(io.BytesIO(data), declared=len(data), dest=tmp_path / "a.png",
                budget=Budget(Limits()))  # fmt: skip
    assert tmp.read_bytes() == data and tmp.name.startswith(".a.png.")


def frames_file(fmt: str, count: int) -> bytes:
    frames = [PILImage.fromarray(pixels(24, 16, seed=i)) for i in range(count)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:])
    return buf.getvalue()


def test_animations_and_multi_page_files_are_noted_in_the_report(empty_ws, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "anim.png").write_bytes(frames_file("PNG", 3))
    (src / "pages.tiff").write_bytes(frames_file("TIFF", 2))
    (src / "still.png").write_bytes(frames_file("PNG", 1))
    args = ["ingest", str(src), "-d", "cells", "-q", "-w", str(empty_ws.root)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "note       anim.png: has 3 frames; only the first is kept" in result.output
    assert "note       pages.tiff: has 2 pages; only the first is kept" in result.output
    assert "still.png" not in result.output
    assert "ingested 3," in result.output


def test_two_ingests_into_one_dataset_at_once_both_succeed(empty_ws, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"{i}.png").write_bytes(encode(".png", 16, 16, seed=i))
    gate = tmp_path / "go"
    # The first run stops with every file moved in but no row committed, holding its place.
    first = run_ingest(empty_ws, src, env={PAUSE_ENV: f"ingest flush:{gate}"})
    reached = Path(f"{gate}.reached")
    try:
        _wait_for(reached, first)
        second = run_ingest(empty_ws, src)
        waiting = second.stderr.readline().decode()  # blocks until the second says it waits
        assert "another ingest into dataset 'cells' is running; waiting" in waiting, waiting
        gate.touch()
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
    finally:
        gate.touch()
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert first.returncode == 0, err1.decode()
    assert second.returncode == 0, err2.decode()
    assert b"Traceback" not in err1 + err2
    assert b"ingested 6, already in 0" in out1
    assert b"ingested 0, already in 6" in out2
    with empty_ws.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Image)) == 6


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until ``proc`` reaches its pause point (it creates ``path``) or dies."""
    import time

    deadline = time.monotonic() + 120  # a bound against hanging, not a timing assertion
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the first ingest never reached its pause point"
        time.sleep(0.05)


def test_cli_ingest_refuses_a_label_with_a_bidi_override(empty_ws, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(encode(".png", 8, 8))
    args = ["ingest", str(src), "-d", "cells", "--labels", "RBC,\u202egnp.exe", "-q"]
    result = CliRunner().invoke(cli, [*args, "-w", str(empty_ws.root)])
    assert result.exit_code == 1
    assert "Error: label name '\\u202egnp.exe' contains" in result.output
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in result.output
    assert "Traceback" not in result.output
    with empty_ws.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Image)) == 0
