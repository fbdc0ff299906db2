"""Checking and staging one file: the CPU-bound half of ingest, run in worker processes.

:func:`check_and_stage` hashes the bytes, recognises the format by content, reads the
header (size, EXIF orientation) and refuses too many pixels before decoding, then
decodes every pixel with OpenCV - the decoder :func:`labeler.imageio.read_image` uses,
with the same rules (truncated JPEGs, 8/16-bit only, header size = decoded size), so
what ingest accepts the matcher and the web UI can read. Only a verified file is
written, to a hidden temporary file beside its destination; the caller moves it into
place with ``os.replace`` (or deletes it), so no half-written image is ever visible.

All of this works on the bytes in memory: a file is read once and decoded once.
(``PIL.Image.getexif`` decodes a whole PNG to look for a trailing eXIf chunk, which
would double the cost; PNG orientation is taken from an eXIf chunk before the pixels.)
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

ORIENTATION_TAG = 0x0112
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}

# Leading bytes of the formats Labeler accepts (sniffed, never trusted from the extension).
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
)


@dataclass(frozen=True)
class Task:
    """One file to check: its bytes come from ``src`` (a path) or ``data``."""

    rel: str
    dest: str  # absolute final path; the temporary file is written beside it
    src: str | None = None
    data: bytes | None = None
    known_sha256: str | None = None  # what the database already holds at ``dest``


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


def sniff_format(head: bytes) -> str | None:
    """``"png"``, ``"jpeg"``, ``"tiff"``, ``"bmp"``, ``"webp"`` from the first bytes, else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((fmt for magic, fmt in MAGIC if head.startswith(magic)), None)


class Refused(ValueError):
    """A file that is not an acceptable image; the message is the reason."""


def read_header(data: bytes, fmt: str, *, max_pixels: int) -> tuple[int, int]:
    """Displayed ``(width, height)`` from the header; refuses more than ``max_pixels``."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb limit only warns below 2x; max_pixels is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt], "MPO"])
            width, height = im.size
            if fmt == "png":
                raw = im.info.get("exif")
                exif = Image.Exif()
                if raw:
                    exif.load(raw)
            else:
                exif = im.getexif()
            orientation = int(exif.get(ORIENTATION_TAG, 1) or 1)
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{declared.group(1)} pixels" if declared else "too many pixels"
        raise Refused(
            f"refused before decoding: declares {size}, more than max_pixels={max_pixels}"
        ) from None
    except UnidentifiedImageError:
        raise Refused(f"not a readable {fmt.upper()} image (unrecognised header)") from None
    except (OSError, SyntaxError, ValueError, TypeError) as exc:
        raise Refused(f"unreadable {fmt.upper()} header ({exc})") from None
    if width * height > max_pixels:
        raise Refused(
            f"refused before decoding: {width}x{height} = {width * height} pixels, "
            f"more than max_pixels={max_pixels}"
        )
    if width <= 0 or height <= 0:
        raise Refused(f"declares an empty image ({width}x{height})")
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def decode(data: bytes, fmt: str, width: int, height: int) -> None:
    """Decode every pixel; refuse what :func:`labeler.imageio.read_image` would refuse."""
    if fmt == "jpeg" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        # libjpeg fills a truncated JPEG with grey and only prints a warning
        raise Refused("truncated JPEG (no end-of-image marker)")
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise Refused(f"cannot decode {fmt.upper()} ({exc.msg.strip()})") from None
    if pixels is None:
        raise Refused(f"cannot decode {fmt.upper()} (corrupt or truncated)")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise Refused(f"unsupported pixel type {pixels.dtype} (want 8 or 16 bit)")
    stored = pixels.shape[1::-1]
    if stored not in ((width, height), (height, width)):
        raise Refused(f"decoded {stored[0]}x{stored[1]}, header says {width}x{height}")


def check_and_stage(task: Task, *, max_pixels: int) -> Checked:
    """Check one file and stage a verified copy beside ``task.dest``.

    Never raises for a bad file: every problem comes back as a rejected :class:`Checked`.
    """

    def rejected(reason: str) -> Checked:
        return Checked(rel=task.rel, status="rejected", reason=reason)

    data = task.data
    if data is None:
        try:
            data = Path(task.src).read_bytes()
        except OSError as exc:
            return rejected(f"cannot read file ({exc.strerror or exc})")
    if not data:
        return rejected("empty file (0 bytes)")
    sha = hashlib.sha256(data).hexdigest()
    if sha == task.known_sha256:
        return Checked(rel=task.rel, status="existing", sha256=sha)
    fmt = sniff_format(data[:16])
    if fmt is None:
        return rejected("not a PNG, JPEG, TIFF, BMP or WebP image (by content)")
    try:
        width, height = read_header(data, fmt, max_pixels=max_pixels)
        decode(data, fmt, width, height)
    except Refused as exc:
        return rejected(str(exc))
    dest = Path(task.dest)
    tmp = dest.with_name(f".{dest.name[:200]}.{uuid.uuid4().hex[:12]}.part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return rejected(f"cannot write {dest.name} ({exc.strerror or exc})")
    return Checked(rel=task.rel, status="ok", sha256=sha, width=width, height=height,
                   format=fmt, tmp=str(tmp))  # fmt: skip


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
    """One OpenCV thread per worker process: the pool already uses every core."""
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
