"""labeler.prelabel.forkserver: pool workers import the parent's code, not a ``labeler/``
that happens to sit in the working directory (Python 3.11's forkserver ignores the
``sys.path`` it is sent and puts its working directory first)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from helpers import DEMO, PRELABEL_IMAGES, REPO

from labeler.prelabel import forkserver

# Run in a fresh interpreter: a forkserver is started once per process, and this test must
# see the start. The parent imports labeler from REPO; the working directory holds another.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    from labeler.imageio import read_image
    from labeler.prelabel import execute
    from labeler.prelabel.exemplars import exemplar_crop

    entries = json.loads(open({exemplars!r}).read())[:3]
    crops = tuple(
        exemplar_crop(read_image({demo!r} + "/images/" + e["image"]), tuple(e["box"]),
                      e["label"], ref=e)
        for e in entries
    )
    bank = execute.ExemplarBank(crops, min_score=0.5)
    tasks = [execute.Task(i, {demo!r} + "/images/" + n) for i, n in enumerate({names!r})]
    results = list(execute.run_tasks(bank, tasks, workers=1, chunk=1))
    print(json.dumps(sorted([r.id, r.error, len(r.proposals)] for r in results)))
    """
)


@pytest.fixture
def shadowed_cwd(tmp_path):
    """A working directory holding a ``labeler`` package that leaves a mark if imported."""
    shadow = tmp_path / "labeler"
    shadow.mkdir()
    mark = tmp_path / "imported-the-shadow"
    (shadow / "__init__.py").write_text(
        f"open({str(mark)!r}, 'w').close()\nraise ImportError('the shadow labeler')\n"
    )
    return tmp_path, mark


def test_workers_import_the_parents_code(shadowed_cwd):
    cwd, mark = shadowed_cwd
    names = list(PRELABEL_IMAGES[:2])
    code = SCRIPT.format(
        repo=str(REPO), exemplars=str(DEMO / "exemplars.json"), demo=str(DEMO), names=names
    )
    env = {k: v for k, v in os.environ.items() if k not in forkserver.PATH_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [tuple(r) for r in __import__("json").loads(done.stdout.strip().splitlines()[-1])]
    assert [r[:2] for r in rows] == [(0, None), (1, None)]
    assert all(n > 0 for *_, n in rows)
    assert not mark.exists()


def test_import_path_names_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", "/a", "/a", "/b"])
    assert forkserver.import_path() == [str(tmp_path), "/a", "/b"]


def test_environment_is_restored(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/kept")
    monkeypatch.delenv("PYTHONSAFEPATH", raising=False)
    with forkserver._environment({"PYTHONPATH": "/x", "PYTHONSAFEPATH": "1"}):
        assert os.environ["PYTHONPATH"] == "/x" and os.environ["PYTHONSAFEPATH"] == "1"
    assert os.environ["PYTHONPATH"] == "/kept" and "PYTHONSAFEPATH" not in os.environ
