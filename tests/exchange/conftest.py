"""Fixtures of the exchange tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import DEMO, IN_CI, REPO


@pytest.fixture
def batch_dir(tmp_path, prelabel_exemplars):
    """A folder for ``scripts/prelabel.py``: ``images/`` with three demo images (one in
    ``sub/``) and ``ex.json`` holding ``prelabel_exemplars`` (names relative to images/)."""
    import json
    import shutil

    images = tmp_path / "batch" / "images"
    (images / "sub").mkdir(parents=True)
    for name, dest in [("BloodImage_00094.jpg", "BloodImage_00094.jpg"),
                       ("BloodImage_00197.jpg", "BloodImage_00197.jpg"),
                       ("BloodImage_00256.jpg", "sub/BloodImage_00256.jpg")]:  # fmt: skip
        shutil.copyfile(DEMO / "images" / name, images / dest)
    entries = [dict(e) for e in prelabel_exemplars]
    entries[0]["image"] = "sub/" + entries[0]["image"]
    (tmp_path / "batch" / "ex.json").write_text(json.dumps(entries), encoding="utf-8")
    return tmp_path / "batch"


# --- browser ---

LABEL_STUDIO_START_TIMEOUT = float(os.environ.get("LABEL_STUDIO_START_TIMEOUT", "600"))


@pytest.fixture(scope="module")
def labelstudio_server(tmp_path_factory):
    """A real Label Studio (``$LABEL_STUDIO_BIN``, installed by scripts/test.d/labelstudio.sh)
    on 127.0.0.1, data in a tmp folder, analytics and update checks off, serving local files
    under ``document_root`` (pytest's base temp folder: every tmp_path is inside it).
    Yields ``SimpleNamespace(url, token, document_root)``.

    Its first start runs every migration: ~30 s on an idle machine, minutes on a busy one."""
    import secrets
    import signal
    import socket
    import subprocess
    import time
    import urllib.request
    from types import SimpleNamespace

    binary = Path(os.environ.get("LABEL_STUDIO_BIN", REPO / ".venv-labelstudio/bin/label-studio"))
    if not binary.is_file():
        msg = f"Label Studio not installed at {binary} (scripts/test.d/labelstudio.sh installs it)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    base = tmp_path_factory.mktemp("labelstudio")
    root = tmp_path_factory.getbasetemp()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(20)
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(base / "data"),
           "COLLECT_ANALYTICS": "false", "LATEST_VERSION_CHECK": "false", "SENTRY_DSN": "",
           "FRONTEND_SENTRY_DSN": "", "LOCAL_FILES_SERVING_ENABLED": "true",
           "LOCAL_FILES_DOCUMENT_ROOT": str(root), "DJANGO_DB": "sqlite"}  # fmt: skip
    log = open(base / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    args = [binary, "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port),
            "--username", "labeler@example.com", "--password", secrets.token_hex(8),
            "--user-token", token, "--enable-legacy-api-token"]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LABEL_STUDIO_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                tail = (base / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"Label Studio exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Label Studio not up after {LABEL_STUDIO_START_TIMEOUT} s")
            time.sleep(1)
        yield SimpleNamespace(url=url, token=token, document_root=root)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def formats_blank_ws(_demo_ws_template, tmp_path):
    """Another copy of the demo workspace (24 images, no boxes) to import into."""
    import shutil

    from labeler.workspace import Workspace

    root = tmp_path / "blank"
    shutil.copytree(_demo_ws_template, root, symlinks=True)
    return Workspace.open(root)


# --- check ---
