"""Checking and staging one file: the CPU-bound half of ingest, run in worker processes.

:func:`check_and_stage` hashes the bytes, recognises the format by content, reads the
header (size, EXIF orientation) and refuses too many pixels before decoding, then
decodes every pixel - all with :mod:`labeler.imageio`'s rules (``read_header``,
``decode_pixels``: the ones :func:`~labeler.imageio.read_image` applies), so what ingest
accepts the matcher and the web UI can read. Only a verified file is
written, to a hidden temporary file beside its destination; the caller moves it into
place with ``os.replace`` (or deletes it), so no half-written image is ever visible.

All of this works on the bytes in memory: a file is read once and decoded once. An archive
member arrives spooled to disk (:mod:`labeler.ingest.spool`, ``Task.spooled``): the check owns
that file and either keeps it as the staged copy or deletes it. A file of several frames
(APNG, multi-page TIFF, animated WebP) keeps its first frame, and ``Checked.note`` says so.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
from PIL import Image

from labeler.imageio import ImageReadError, decode_pixels, read_header
from labeler.ingest.spool import discard, spool_path
from labeler.lifeline import die_with_parent

PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}

# Leading bytes of the formats Labeler accepts (sniffed, never trusted from the extension).
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
)
NOT_AN_IMAGE = "not a PNG, JPEG, TIFF, BMP or WebP image (by content)"


@dataclass(frozen=True)
class Task:
    """One file to check: its bytes come from ``src`` (a path) or ``data``."""

    rel: str
    dest: str  # absolute final path; the temporary file is written beside it
    src: str | None = None
    data: bytes | None = None
    known_sha256: str | None = None  # what the database already holds at ``dest``
    spooled: bool = False  # ``src`` is a temporary copy this check owns (an archive member)


@dataclass(frozen=True)
class Checked:
    """The outcome: ``status`` is ``"ok"`` (``tmp`` holds the staged copy), ``"existing"``
    (same bytes already recorded at this path) or ``"rejected"`` (``reason`` says why)."""

    rel: str
    status: str
    sha256: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    tmp: str | None = None
    reason: str = ""
    note: str = ""  # accepted, but the report should say something (only the first frame)


def sniff_format(head: bytes) -> str | None:
    """``"png"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``, ``"webp"`` from the first bytes, else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((fmt for magic, fmt in MAGIC if head.startswith(magic)), None)


def verify(data: bytes, fmt: str, *, max_pixels: int) -> tuple[int, int]:
    """Displayed ``(width, height)`` of a file's bytes after decoding every pixel.

    The header and decoding rules are :mod:`labeler.imageio`'s (the same as ``read_image``);
    the sniffed ``fmt`` picks the Pillow parser. Raises :class:`ImageReadError`.
    """
    header = read_header(data, max_pixels=max_pixels, formats=(PIL_FORMATS[fmt], "MPO"))
    decode_pixels(data, header)
    return header.displayed_size


def frame_note(data: bytes) -> str:
    """ "" for a still image; else what ingest keeps of an animation or multi-page file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                frames = getattr(im, "n_frames", 1)
    except (OSError, SyntaxError, ValueError, EOFError):
        return ""  # already decoded once; a trailing oddity is not worth a note
    kind = "pages" if im.format == "TIFF" else "frames"
    return f"has {frames} {kind}; only the first is kept" if frames > 1 else ""


def check_and_stage(task: Task, *, max_pixels: int) -> Checked:
    """Check one file and stage a verified copy beside ``task.dest``.

    Never raises for a bad file: every problem comes back as a rejected :class:`Checked`.
    """
    checked = _check_and_stage(task, max_pixels=max_pixels)
    if task.spooled and checked.tmp != task.src:
        discard(task.src)
    return checked


def _check_and_stage(task: Task, *, max_pixels: int) -> Checked:

    def rejected(reason: str) -> Checked:
        return Checked(rel=task.rel, status="rejected", reason=reason)

    data = task.data
    if data is None:
        try:
            with open(task.src, "rb") as f:
                # the leading bytes first: a non-image (a run of zeros) is refused unread
                head = f.read(16)
                if head and sniff_format(head) is None:
                    return rejected(NOT_AN_IMAGE)
                data = head + f.read()
        except OSError as exc:
            return rejected(f"cannot read file ({exc.strerror or exc})")
    if not data:
        return rejected("empty file (0 bytes)")
    sha = hashlib.sha256(data).hexdigest()
    if sha == task.known_sha256:
        return Checked(rel=task.rel, status="existing", sha256=sha)
    fmt = sniff_format(data[:16])
    if fmt is None:
        return rejected(NOT_AN_IMAGE)
    try:
        width, height = verify(data, fmt, max_pixels=max_pixels)
    except ImageReadError as exc:
        return rejected(exc.reason)
    dest = Path(task.dest)
    tmp = Path(task.src) if task.spooled else spool_path(dest)
    try:
        if not task.spooled:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return rejected(f"cannot write {dest.name} ({exc.strerror or exc})")
    return Checked(rel=task.rel, status="ok", sha256=sha, width=width, height=height,
                   format=fmt, tmp=str(tmp), note=frame_note(data))  # fmt: skip


def check_chunk(tasks: list[Task], max_pixels: int) -> list[Checked]:
    """Worker entry point: a chunk per call keeps inter-process overhead small."""
    # A broken file is reported in the rejection list; OpenCV's own stderr warning about
    # it would only be noise between the progress bar and the report.
    level, pil_limit = cv2.getLogLevel(), Image.MAX_IMAGE_PIXELS
    cv2.setLogLevel(2)  # LOG_LEVEL_ERROR
    # Pillow refuses past twice its own limit (~179 MP) whatever the workspace allows.
    Image.MAX_IMAGE_PIXELS = max(pil_limit or 0, max_pixels)
    try:
        return [check_and_stage(t, max_pixels=max_pixels) for t in tasks]
    finally:
        cv2.setLogLevel(level)
        Image.MAX_IMAGE_PIXELS = pil_limit


def init_worker() -> None:
    """One OpenCV thread per worker process (the pool already uses every core); the worker
    exits with the parent (:mod:`labeler.lifeline`). Pool initializer only."""
    die_with_parent()
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
