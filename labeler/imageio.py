"""Reading images as the annotator sees them.

:func:`read_image` returns a numpy array ``(H, W)`` gray or ``(H, W, 3)`` BGR,
uint8 or uint16, with the EXIF orientation applied (boxes are drawn on the
displayed picture, so pixels must be in displayed order). :func:`image_size`
gives the displayed ``(width, height)`` from the header alone. Both refuse
files that declare more than ``max_pixels`` pixels before decoding anything,
and raise :class:`ImageReadError` naming the file and the reason.

Pillow reads the header (format, size, EXIF orientation); OpenCV decodes the
pixels, because Pillow drops 16-bit colour to 8 bits.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 100_000_000
ORIENTATION_TAG = 0x0112
SUPPORTED = {"PNG", "JPEG", "MPO", "TIFF", "BMP", "DIB", "WEBP"}


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message names file and reason.

    ``reason`` is the message without the file name (what ingest reports per file).
    """

    def __init__(self, reason: str, *, path: object = None) -> None:
        self.reason, self.path = reason, path
        super().__init__(reason if path is None else f"{path}: {reason}")


@dataclass(frozen=True)
class Header:
    """What an image header declares: Pillow's format name, the stored size, EXIF orientation."""

    format: str
    width: int
    height: int
    orientation: int = 1  # 1..8; 5-8 are a quarter turn

    @property
    def displayed_size(self) -> tuple[int, int]:
        """``(width, height)`` as displayed (orientations 5-8 swap them)."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def _too_many(w: int, h: int, max_pixels: int) -> ImageReadError:
    return ImageReadError(
        f"refused before decoding: declares {w}x{h} = {w * h} pixels, "
        f"more than max_pixels={max_pixels}"
    )


def read_header(
    source: bytes | Path, *, max_pixels: int, formats: Sequence[str] | None = None
) -> Header:
    """The header of an image file (``Path``) or of its bytes; nothing is decoded.

    The one place of the header rules: Pillow formats in :data:`SUPPORTED` only (or
    ``formats``), at most ``max_pixels`` declared pixels (checked before anything may
    decode), no empty image. Raises :class:`ImageReadError` without a file name.
    """
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        # Pillow warns (an error under strict warning filters) past its own
        # bomb limit; the max_pixels check below is the one that decides.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp, formats=formats) as im:
                fmt, (w, h) = im.format or "?", im.size
                if w * h > max_pixels:  # before getexif(), which may decode (PNG)
                    raise _too_many(w, h, max_pixels)
                orientation = _orientation(im)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{declared.group(1)} pixels" if declared else "too many pixels"
        raise ImageReadError(
            f"refused before decoding: declares {size}, more than max_pixels={max_pixels}"
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, TypeError) as exc:
        raise ImageReadError(f"unreadable image header ({exc})") from None
    if fmt not in SUPPORTED:
        raise ImageReadError(f"unsupported image format {fmt}")
    if w <= 0 or h <= 0:
        raise ImageReadError(f"declares an empty image ({w}x{h})")
    return Header(fmt, w, h, orientation if 1 <= orientation <= 8 else 1)


def _header(path: Path, max_pixels: int) -> Header:
    if not path.exists():
        raise ImageReadError("no such file", path=path)
    if not path.is_file():
        raise ImageReadError("not a regular file", path=path)
    if path.stat().st_size == 0:
        raise ImageReadError("empty file (0 bytes)", path=path)
    try:
        return read_header(path, max_pixels=max_pixels)
    except ImageReadError as exc:
        raise ImageReadError(exc.reason, path=path) from None


def _orientation(im: Image.Image) -> int:
    """EXIF orientation 1..8 without decoding pixels.

    Pillow's ``getexif()`` on a PNG loads the whole image to look for an eXIf chunk after
    the pixel data; only one met before the pixels (already in ``im.info``) is used.
    """
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        return int(im.getexif().get(ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block should not hide the pixels
        return 1


def image_size(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Displayed ``(width, height)`` of an image file, reading only its header.

    EXIF orientations 5-8 (a quarter turn) swap width and height.

    Raises
    ------
    ImageReadError
        Missing, empty, non-image or unsupported file, or more than ``max_pixels``.
    """
    return _header(Path(path), max_pixels).displayed_size


def decode_pixels(data: bytes | np.ndarray, header: Header) -> np.ndarray:
    """Decode the bytes of an image whose header is ``header``, in stored order.

    The one place of the decoding rules: a JPEG must be complete, pixels 8 or 16 bit,
    the decoded size the declared one. Returns ``(H, W)`` gray or ``(H, W, 3)`` BGR (alpha
    dropped); raises :class:`ImageReadError` without a file name.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    fmt, w, h = header.format, header.width, header.height
    if fmt in ("JPEG", "MPO"):
        # libjpeg fills a truncated JPEG with grey and only prints a warning;
        # a complete one has an end-of-image marker after its last scan.
        raw = buf.tobytes() if isinstance(data, np.ndarray) else data
        if raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda"):
            raise ImageReadError("truncated JPEG (no end-of-image marker)")
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageReadError(f"cannot decode {fmt} ({exc.msg.strip()})") from None
    if img is None:
        raise ImageReadError(f"cannot decode {fmt} (corrupt or truncated)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported pixel type {img.dtype} (want 8 or 16 bit)")
    if img.ndim == 3 and img.shape[2] in (1, 2):  # gray, gray + alpha
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.shape[:2] != (h, w):
        raise ImageReadError(f"decoded {img.shape[1]}x{img.shape[0]}, header says {w}x{h}")
    return np.ascontiguousarray(img)


def _orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to ``(H, W[, C])`` pixels, as viewers do."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(img)) if op else img


def read_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file as displayed.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, TIFF (8 or 16 bit), BMP or WebP.
    max_pixels : int
        Files declaring more pixels are refused before decoding.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` gray or ``(H, W, 3)`` BGR, uint8 or uint16, rows first,
        EXIF orientation applied. Alpha is dropped.

    Raises
    ------
    ImageReadError
        Naming the file and why: missing, empty, not an image, truncated,
        undecodable, unsupported pixel type, or too many pixels.
    """
    path = Path(path)
    header = _header(path, max_pixels)
    try:
        img = decode_pixels(np.fromfile(path, dtype=np.uint8), header)
    except ImageReadError as exc:
        raise ImageReadError(exc.reason, path=path) from None
    return _orient(img, header.orientation)
