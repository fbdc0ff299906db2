"""Shared fixtures. Area-specific fixtures go in the sections below, one per area."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "datasets" / "demo"
SHARED_BLOOD = REPO.parent / "shared" / "datasets" / "blood-cells"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI nothing may be skipped: a skip there means a missing tool, so fail loudly."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true forbids skips): {report.longrepr}"


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """The bundled demo dataset: ``images/`` and ``boxes.csv``."""
    return DEMO


@pytest.fixture
def workspace(tmp_path):
    """A fresh, empty workspace (real git + DVC repo, real SQLite file) in ``tmp_path``."""
    from labeler.workspace import init_workspace

    return init_workspace(tmp_path / "ws")


# --- ingest ---


@pytest.fixture(scope="session")
def _demo_ws_template(tmp_path_factory) -> Path:
    """Built once per session: a workspace with ``datasets/demo/images`` ingested as ``demo``."""
    from labeler.ingest import ingest
    from labeler.workspace import init_workspace

    root = tmp_path_factory.mktemp("demo_ws_template") / "ws"
    ws = init_workspace(root)
    ingest(ws, DEMO / "images", dataset="demo", labels=("RBC", "WBC", "Platelets"),
           workers=1, progress=False)  # fmt: skip
    ws.engine.dispose()  # checkpoints the SQLite WAL so a plain copy is complete
    return root


@pytest.fixture
def demo_ws(_demo_ws_template, tmp_path):
    """A workspace of its own per test: dataset ``demo`` (24 images, state ``new``, no boxes)
    with labels RBC, WBC, Platelets (hotkeys 1-3). Add the demo's 566 boxes with
    ``labeler.ingest.load_demo_boxes(ws)`` (5 of them flagged ``is_exemplar``)."""
    import shutil

    from labeler.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(_demo_ws_template, root, symlinks=True)
    return Workspace.open(root)
