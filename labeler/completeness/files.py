"""File verification for ``labeler check --verify-files``: is every image still what was ingested?

Hashing is I/O-bound and :mod:`hashlib` releases the GIL while it digests, so a
small thread pool keeps the disk busy without the cost of processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labeler.completeness.sql import Row
from labeler.fileio import sha256_file

FILE_CHECKS = ("files_missing", "files_unreadable", "files_changed", "files_size_mismatch")


@dataclass(frozen=True)
class StoredImage:
    """What the database says about one image file."""

    image_id: int
    path: str  # workspace-relative POSIX path
    sha256: str
    width: int
    height: int


def verify_one(image: StoredImage, abspath: Path, *, max_pixels: int) -> tuple[str, str] | None:
    """Check one file; return ``(check key, detail)`` for the first problem, else ``None``."""
    from labeler.imageio import ImageReadError, image_size

    if not abspath.is_file():
        return "files_missing", f"no file at {abspath}"
    try:
        digest = sha256_file(abspath)
    except OSError as exc:
        return "files_unreadable", f"{abspath}: {exc.strerror or exc}"
    if digest != image.sha256:
        return (
            "files_changed",
            f"sha256 {digest[:12]}... differs from ingest {image.sha256[:12]}...",
        )
    try:
        size = image_size(abspath, max_pixels=max_pixels)
    except (ImageReadError, OSError) as exc:
        return "files_unreadable", str(exc)
    if tuple(size) != (image.width, image.height):
        return (
            "files_size_mismatch",
            f"file is {size[0]}x{size[1]}, stored {image.width}x{image.height}",
        )
    return None


def verify_files(
    images: Sequence[StoredImage],
    resolve: Callable[[str], Path],
    *,
    max_pixels: int = 100_000_000,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, list[Row]]:
    """Verify ``images`` in parallel; returns every problem, grouped by check key.

    Parameters
    ----------
    images : sequence of StoredImage
    resolve : callable
        Maps a stored workspace-relative path to the file on disk.
    max_pixels : int
        Decompression-bomb limit passed to :func:`labeler.imageio.image_size`.
    workers : int, optional
        Threads; default ``min(8, 2 * cpu_count)``.
    on_done : callable, optional
        Called with the number of files finished since the last call (progress bars).
    """
    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    found: dict[str, list[Row]] = {key: [] for key in FILE_CHECKS}

    def check(image: StoredImage) -> tuple[StoredImage, tuple[str, str] | None]:
        return image, verify_one(image, resolve(image.path), max_pixels=max_pixels)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for image, problem in pool.map(check, images):
            if problem is not None:
                key, detail = problem
                found[key].append(Row(image_id=image.image_id, path=image.path, detail=detail))
            if on_done is not None:
                on_done(1)
    return found


def stored_images(rows: Iterable[tuple[int, str, str, int, int]]) -> list[StoredImage]:
    return [StoredImage(*row) for row in rows]
