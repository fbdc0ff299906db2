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

import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 100_000_000
ORIENTATION_TAG = 0x0112
SUPPORTED = {"PNG", "JPEG", "MPO", "TIFF", "BMP", "DIB", "WEBP"}


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message names file and reason."""


def _header(path: Path, max_pixels: int) -> tuple[str, int, int, int]:
    """``(format, stored width, stored height, EXIF orientation 1..8)`` from the header."""
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if not path.is_file():
        raise ImageReadError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        # Pillow warns (an error under strict warning filters) past its own
        # bomb limit; the max_pixels check below is the one that decides.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt, (w, h) = im.format or "?", im.size
                if w * h > max_pixels:  # before getexif(), which may decode (PNG)
                    raise ImageReadError(
                        f"{path}: refused, declares {w}x{h} = {w * h} pixels, "
                        f"more than max_pixels={max_pixels}"
                    )
                orientation = _orientation(im)
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{declared.group(1)} pixels" if declared else "too many pixels"
        raise ImageReadError(
            f"{path}: refused, declares {size}, more than max_pixels={max_pixels}"
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (unrecognised format)") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: unreadable image header ({exc})") from None
    if fmt not in SUPPORTED:
        raise ImageReadError(f"{path}: unsupported image format {fmt}")
    if w * h > max_pixels:
        raise ImageReadError(
            f"{path}: refused, declares {w}x{h} = {w * h} pixels, more than max_pixels={max_pixels}"
        )
    if w <= 0 or h <= 0:
        raise ImageReadError(f"{path}: declares an empty image ({w}x{h})")
    return fmt, w, h, orientation if 1 <= orientation <= 8 else 1


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
    _, w, h, orientation = _header(Path(path), max_pixels)
    return (h, w) if orientation >= 5 else (w, h)


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
    fmt, w, h, orientation = _header(path, max_pixels)
    data = np.fromfile(path, dtype=np.uint8)
    if fmt in ("JPEG", "MPO"):
        # libjpeg fills a truncated JPEG with grey and only prints a warning;
        # a complete one has an end-of-image marker after its last scan.
        raw = data.tobytes()
        if raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda"):
            raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker)")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageReadError(f"{path}: cannot decode {fmt} ({exc.msg.strip()})") from None
    if img is None:
        raise ImageReadError(f"{path}: cannot decode {fmt} (corrupt or truncated)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: unsupported pixel type {img.dtype} (want 8 or 16 bit)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = img[:, :, 0]
    if img.shape[:2] != (h, w):
        raise ImageReadError(f"{path}: decoded {img.shape[1]}x{img.shape[0]}, header says {w}x{h}")
    return _orient(np.ascontiguousarray(img), orientation)
