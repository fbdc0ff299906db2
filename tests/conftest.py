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
