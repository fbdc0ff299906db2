"""Helpers for tests (import as ``from helpers import ...``; pytest puts tests/ on sys.path).

Image builders return encoded file bytes made with a seeded RNG, so every test file
is real, decodable (or deliberately broken) and reproducible.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from labeler.ingest import load_boxes_csv, load_demo_boxes

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "datasets" / "demo"
SHARED_BLOOD = REPO.parent / "shared" / "datasets" / "blood-cells"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

ARTIFACTS = REPO / "test-artifacts"

PRELABEL_IMAGES = (
    "BloodImage_00094.jpg",
    "BloodImage_00171.jpg",
    "BloodImage_00182.jpg",
    "BloodImage_00197.jpg",
    "BloodImage_00256.jpg",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


__all__ = [
    "ARTIFACTS",
    "DEMO",
    "IN_CI",
    "PRELABEL_IMAGES",
    "REPO",
    "SHARED_BLOOD",
    "free_port",
    "encode",
    "postgres_bindir",
    "postgres_cluster",
    "exif_rotated_jpeg",
    "load_boxes_csv",
    "load_demo_boxes",
    "png_bomb",
    "threaded_server",
    "truncated_jpeg",
]


@contextmanager
def threaded_server(ws, *, secret: str, name: str = "test-server") -> Iterator[tuple]:
    """``create_app`` over workspace ``ws`` behind a real threaded WSGI server on a free
    loopback port: yields ``(app, "http://127.0.0.1:PORT")``; stops server and job runner."""
    import threading

    from werkzeug.serving import make_server

    from labeler.web import create_app

    app = create_app({"WORKSPACE": ws, "SECRET_KEY": secret})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["labeler.jobs"].stop()


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server's ``bin/`` (Debian layout), or None."""
    import glob

    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(initdbs[-1]).parent if initdbs else None


@contextmanager
def postgres_cluster(database: str = "labeler_test") -> Iterator[str]:
    """A throwaway PostgreSQL cluster (Debian's server binaries, ``fsync=off``) on a Unix
    socket in a temporary folder, with one empty ``database``: yields its SQLAlchemy URL,
    then stops the cluster and removes the folder. ``FileNotFoundError`` without the
    binaries. Used by the ``pg_url`` fixture and ``scripts/bench_load.py``."""
    import shutil
    import subprocess
    import tempfile

    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries not installed (/usr/lib/postgresql)")
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="labeler-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()
    try:
        subprocess.run([*run_as, bindir / "initdb", "-A", "trust", "-U", "postgres", "-D", data],
                       check=True, capture_output=True)  # fmt: skip
        opts = f"-p {port} -k {base} -c listen_addresses='' -c fsync=off"
        # -l: the server must not inherit our pipes, or run() waits for it to exit.
        subprocess.run([*run_as, bindir / "pg_ctl", "-D", data, "-l", base / "log", "-o", opts,
                        "-w", "start"], check=True, capture_output=True)  # fmt: skip
        createdb = [bindir / "createdb", "-h", base, "-p", str(port), "-U", "postgres"]
        subprocess.run([*run_as, *createdb, database], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/{database}?host={base}&port={port}"
    finally:
        subprocess.run([*run_as, bindir / "pg_ctl", "-D", data, "-m", "fast", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def pixels(width: int, height: int, *, seed: int = 0, channels: int = 3, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    shape = (height, width, channels) if channels > 1 else (height, width)
    return rng.integers(0, top, size=shape, dtype=dtype, endpoint=True)


def encode(ext: str, width: int = 48, height: int = 32, *, seed: int = 0, **kw) -> bytes:
    """Encode random pixels with OpenCV: ``ext`` is ``.png``, ``.jpg``, ``.tif``, ``.bmp``
    or ``.webp``; ``channels`` and ``dtype`` as for :func:`pixels`."""
    ok, buf = cv2.imencode(ext, pixels(width, height, seed=seed, **kw))
    assert ok, ext
    return buf.tobytes()


def truncated_jpeg(seed: int = 0) -> bytes:
    data = encode(".jpg", 64, 64, seed=seed)
    return data[: len(data) // 2]


def exif_rotated_jpeg(width: int = 64, height: int = 32, orientation: int = 6) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says to rotate it on display."""
    im = Image.fromarray(pixels(width, height, seed=7)[:, :, ::-1].copy())
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header (correct CRCs) declaring ``width`` x ``height`` pixels, with one
    tiny compressed row: a decoder that trusted it would allocate tens of gigabytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    idat = zlib.compress(b"\x00" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


# --- teams ---

TEAM = {"ada": "admin", "rita": "reviewer", "ann": "annotator", "bob": "annotator"}
TEAM_PASSWORD = "pass-{name}-1234"


def log_in(client, name: str, password: str | None = None, *, next_url: str = "/", **kw):
    """Log a Flask test ``client`` in through the login form (CSRF token read from the
    page); ``password`` defaults to the ``team`` fixture's; ``kw`` go to both requests."""
    import re

    page = client.get("/login", **kw).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    password = TEAM_PASSWORD.format(name=name) if password is None else password
    form = {"name": name, "password": password, "csrf_token": token, "next": next_url}
    return client.post("/login", data=form, **kw)


def session_token(client) -> str:
    return client.get("/api/v1/session").get_json()["csrf_token"]
