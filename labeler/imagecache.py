"""Thumbnails, browser-friendly display copies, and a small cache of decoded images.

Shared by the web views (files, thumbnails) and interactive prelabel (decoded pixels), so
it lives outside both.

Derived files live under ``.labeler/thumbs/<sha256[:2]>/`` and are keyed by
the image's content hash, so they are made once, survive renames and are
never served for another image's content. They are written to a temporary
name and renamed into place, so a crash or a concurrent request never leaves
(or serves) a half-written file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from labeler.fileio import atomic_write
from labeler.imageio import read_image
from labeler.store.models import Image
from labeler.store.queries import InvalidInput, NotFound
from labeler.workspace import Workspace

THUMB_SIZE = 256
# Formats every browser displays as-is; anything else (TIFF) is converted to PNG.
BROWSER_FORMATS = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "bmp": "image/bmp",
}
MIMETYPES = {**BROWSER_FORMATS, "tiff": "image/tiff"}


def source_path(ws: Workspace, image: Image) -> Path:
    """The image's file, refusing any stored path that escapes the workspace."""
    path = ws.abspath(image.path).resolve()
    if not path.is_relative_to(ws.root):
        raise FileNotFoundError(f"image {image.id}: path {image.path!r} is outside the workspace")
    if not path.is_file():
        raise FileNotFoundError(f"image {image.id}: file {image.path} is missing")
    return path


@contextmanager
def readable(image: Image) -> Iterator[None]:
    """A missing file is :class:`NotFound`, an unreadable one :class:`InvalidInput`, both
    naming the image."""
    try:
        yield
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from None
    except (OSError, ValueError) as exc:  # truncated or corrupt file, unknown format
        raise InvalidInput(f"image {image.id} ({image.path}) cannot be read: {exc}") from None


def _cache_file(ws: Workspace, image: Image, suffix: str) -> Path:
    return ws.root / ".labeler" / "thumbs" / image.sha256[:2] / f"{image.sha256}_{suffix}"


def _to_8bit_rgb(img: PILImage.Image) -> PILImage.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        img = PILImage.fromarray((arr * (255.0 / hi)).clip(0, 255).astype(np.uint8))
    return img if img.mode == "RGB" else img.convert("RGB")


def _open(path: Path, draft: int | None = None) -> PILImage.Image:
    with warnings.catch_warnings():
        # Ingest already refused decompression bombs by the workspace's max_pixels.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        img = PILImage.open(path)
        if draft and img.format == "JPEG":
            img.draft("RGB", (draft, draft))  # decode at 1/2..1/8 scale: much faster
        img = ImageOps.exif_transpose(img)
        img.load()
    return img


def _write_atomic(target: Path, img: PILImage.Image, fmt: str) -> None:
    options = {"quality": 85} if fmt == "JPEG" else {}
    atomic_write(target, lambda fh: img.save(fh, format=fmt, **options))


def thumbnail(ws: Workspace, image: Image, size: int = THUMB_SIZE) -> Path:
    """Path of the image's JPEG thumbnail (longest side ``size``), made on first use."""
    target = _cache_file(ws, image, f"t{size}.jpg")
    if not target.is_file():
        img = _to_8bit_rgb(_open(source_path(ws, image), draft=size))
        img.thumbnail((size, size), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
        _write_atomic(target, img, "JPEG")
    return target


def display_file(ws: Workspace, image: Image, max_side: int | None = None) -> tuple[Path, str]:
    """``(path, mimetype)`` the browser should load for ``image``.

    The original when the browser can show it and it fits ``max_side``;
    otherwise a cached copy (JPEG for JPEG sources, PNG for the rest) whose
    longest side is at most ``max_side``. Box coordinates stay in original
    pixels: the client scales by ``image.width / displayed width``.
    """
    src = source_path(ws, image)
    too_big = max_side is not None and max(image.width, image.height) > max_side
    if image.format in BROWSER_FORMATS and not too_big:
        return src, BROWSER_FORMATS[image.format]
    fmt, ext = ("JPEG", "jpg") if image.format == "jpeg" else ("PNG", "png")
    side = max_side if too_big else max(image.width, image.height)
    target = _cache_file(ws, image, f"d{side}.{ext}")
    if not target.is_file():
        img = _to_8bit_rgb(_open(src, draft=side))
        if too_big:
            img.thumbnail((side, side), PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        _write_atomic(target, img, fmt)
    return target, f"image/{fmt.lower()}"


def read_pixels(ws: Workspace, image: Image) -> np.ndarray:
    """The decoded pixels of ``image``, not cached (a long job would evict the images the
    annotator is working on)."""
    return read_image(source_path(ws, image))


@lru_cache(maxsize=8)
def _decoded(path: str, sha256: str) -> np.ndarray:
    arr = read_image(path)
    arr.flags.writeable = False  # shared between requests: nobody may modify it
    return arr


def decoded(ws: Workspace, image: Image) -> np.ndarray:
    """The decoded pixels of ``image`` (read-only), cached for the last few images.

    Find-similar on the same image again (new exemplars, new threshold) then
    costs only the matching, not another decode.
    """
    return _decoded(str(source_path(ws, image)), image.sha256)
