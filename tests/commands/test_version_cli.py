"""``labeler version ...`` and ``labeler remote add``: in-process through click, and as real
concurrent / killed subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from labeler.cli import cli
from labeler.store.models import Box, Image
from labeler.testhooks import CRASH_AT_ENV, DVC_CRASH_ENV

LABELER = [sys.executable, "-c", "from labeler.cli import main; main()"]


def run(ws, *args):
    return CliRunner().invoke(cli, [*args, "--workspace", str(ws.root)], catch_exceptions=False)


def test_create_list_diff_checkout(version_ws):
    ws = version_ws
    result = run(ws, "version", "create", "demo", "-m", "first")
    assert result.exit_code == 0, result.output
    assert "created demo@v1 (6 images, 147 boxes)" in result.stdout
    with ws.sessions.begin() as s:
        box = s.scalars(select(Box).order_by(Box.id)).first()
        s.delete(box)
    assert run(ws, "version", "create", "demo", "-m", "one box less").exit_code == 0

    listed = run(ws, "version", "list", "demo")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["version", "date", "images", "boxes", "message"]
    assert lines[1].split()[0] == "v1" and lines[1].split()[2:] == ["6", "147", "first"]
    assert lines[2].split()[2:] == ["6", "146", "one", "box", "less"]
    rows = json.loads(run(ws, "version", "list", "demo", "--json").stdout)
    assert [(r["tag"], r["counts"]["boxes"]) for r in rows] == [("demo@v1", 147), ("demo@v2", 146)]

    diff = run(ws, "version", "diff", "demo", "v1", "v2", "--json")
    assert diff.exit_code == 0
    removed = {lb: c["removed"] for lb, c in json.loads(diff.stdout)["labels"].items()}
    assert sum(removed.values()) == 1
    text = run(ws, "version", "diff", "demo", "v1", "v2").stdout
    assert text.startswith("demo@v1 -> demo@v2") and "images added: 0" in text

    out = run(ws, "version", "checkout", "demo", "v1")
    assert out.exit_code == 0
    assert "labeler import labelstudio datasets/demo/labels/labelstudio.json" in out.stdout
    manifest = json.loads((ws.dataset_dir("demo") / "labels" / "manifest.json").read_text())
    assert manifest["tag"] == "demo@v1"


def test_checkout_restore_db_brings_back_a_deleted_box(version_ws):
    ws = version_ws
    assert run(ws, "version", "create", "demo", "-m", "first").exit_code == 0
    with ws.sessions.begin() as s:
        s.delete(s.scalars(select(Box).order_by(Box.id)).first())
    result = run(ws, "version", "checkout", "demo", "v1", "--restore-db")
    assert result.exit_code == 0, result.output
    assert "imported 147 boxes" in result.stdout
    with ws.sessions() as s:
        assert len(s.scalars(select(Box).where(Box.status == "accepted")).all()) == 147


def test_refusal_prints_the_report_and_exits_1(version_ws):
    with version_ws.sessions.begin() as s:
        s.scalars(select(Image)).first().state = "new"
    result = run(version_ws, "version", "create", "demo", "-m", "early")
    assert result.exit_code == 1
    assert "Error: dataset 'demo' is not complete" in result.stderr
    assert "--allow-incomplete" in result.stderr
    assert "new" in result.stderr  # the completeness report came first
    assert run(version_ws, "version", "list", "demo").stdout.startswith("no versions of demo")
    forced = run(version_ws, "version", "create", "demo", "-m", "early", "--allow-incomplete")
    assert forced.exit_code == 0
    assert "warning: demo@v1 is incomplete" in forced.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["version", "create", "nope", "-m", "x"], "no dataset named 'nope'"),
        (["version", "create", "demo", "-m", " "], "needs a message"),
        (["version", "diff", "demo", "v1", "v2"], "no version demo@v1"),
        (["version", "checkout", "demo", "vX"], "bad version 'vX'"),
        (["version", "list", "../etc"], "cannot be versioned"),
    ],
)
def test_errors_are_one_line(version_ws, args, message):
    result = run(version_ws, *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_remote_add_commits_config_and_warns_about_older_versions(version_ws, tmp_path):
    ws = version_ws
    first = run(ws, "remote", "add", str(tmp_path / "store1"))
    assert first.exit_code == 0, first.output
    assert "warning" not in first.stderr
    config = subprocess.run(["git", "show", "HEAD:.dvc/config"], cwd=ws.root,
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert str(tmp_path / "store1") in config and "remote = storage" in config
    assert run(ws, "version", "create", "demo", "-m", "v1", "--push").exit_code == 0
    assert any((tmp_path / "store1").rglob("*"))  # pushed
    second = run(ws, "remote", "add", str(tmp_path / "store2"))
    assert "warning: DVC reads the remote from each revision's config" in second.stderr
    assert "demo@v1" in second.stderr


def test_two_creates_at_once_both_succeed_in_turn(version_ws):
    ws = version_ws
    procs = [
        subprocess.Popen([*LABELER, "version", "create", "demo", "-m", f"run {i}", "-w",
                          str(ws.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    created = sorted(line.split()[1] for out, _ in outs for line in out.splitlines()
                     if line.startswith("created"))  # fmt: skip
    assert created == ["demo@v1", "demo@v2"]
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "-q"], cwd=ws.root)
    assert status.returncode == 0


@pytest.mark.parametrize("stage", ["snapshot", "dvc add"])
def test_kill_during_create_leaves_a_usable_repo(version_ws, stage):
    ws = version_ws
    scratch = ws.root / ".labeler" / "tmp"
    # The run kills itself at a known point (labeler.testhooks), one a poll could miss on a
    # fast or busy machine. "snapshot": the snapshot is in the scratch folder, not yet swapped
    # in. "dvc add": DVC has hashed the files into its cache, the .dvc file is not yet written.
    hook = {"snapshot": {CRASH_AT_ENV: "snapshot"}, "dvc add": {DVC_CRASH_ENV: "1"}}[stage]
    proc = subprocess.Popen([*LABELER, "version", "create", "demo", "-m", "killed", "-w",
                             str(ws.root)], start_new_session=True,
                            env={**os.environ, **hook})  # fmt: skip
    proc.wait(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    if stage == "snapshot":
        assert any(scratch.iterdir()), "the crash left no scratch folder to recover"
    else:
        assert any((ws.root / ".dvc" / "cache").rglob("*")), "dvc add never filled its cache"
        assert not (ws.root / "datasets" / "demo.dvc").exists()

    result = run(ws, "version", "create", "demo", "-m", "after the kill")
    assert result.exit_code == 0, result.output
    assert "created demo@v1" in result.stdout
    assert list(scratch.iterdir()) == []
    assert not (ws.root / ".labeler" / "version.journal").exists()
    fsck = subprocess.run([sys.executable, "-m", "dvc", "status", "-q"], cwd=ws.root)
    assert fsck.returncode == 0
    git_status = subprocess.run(["git", "status", "--porcelain"], cwd=ws.root,
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "datasets/demo" not in git_status
