"""Archive members to disk in chunks, refused by declared and by actual size.

Reading a member whole into memory lets a 3 MB zip of 1 GiB zero runs take gigabytes of
RAM (issue 13). Here a member is copied in :data:`CHUNK_BYTES` pieces to a hidden file
beside its destination, counting as it goes: a member is refused when it declares more
than the per-file cap, when its stream yields more than it declared or more than the cap,
or when the archive as a whole unpacks to more than the total cap (many small bombs).
The check then reads the spooled file like any file of a folder.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK_BYTES = 1 << 20
MAX_FILE_BYTES = 256 << 20  # an uncompressed 8-bit RGB TIFF at 85 MP; no real image is bigger
MIN_TOTAL_BYTES = 4 << 30
TOTAL_RATIO = 100  # image archives barely compress: 100:1 overall is a bomb, not a dataset


class Refused(ValueError):
    """A member that must not be unpacked; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Caps for one source: ``file_bytes`` per file, ``total_bytes`` over the archive."""

    file_bytes: int = MAX_FILE_BYTES
    total_bytes: int = MIN_TOTAL_BYTES

    @classmethod
    def for_source(cls, src: Path, config: dict) -> Limits:
        """Workspace overrides (``max_file_bytes``, ``max_unpacked_bytes``), else the
        defaults; the total cap grows with the archive (``TOTAL_RATIO`` times its size)."""
        ratio_cap = TOTAL_RATIO * (src.stat().st_size if src.is_file() else 0)
        return cls(
            file_bytes=int(config.get("max_file_bytes") or MAX_FILE_BYTES),
            total_bytes=int(config.get("max_unpacked_bytes") or max(MIN_TOTAL_BYTES, ratio_cap)),
        )

    def check_declared(self, size: int) -> str | None:
        """Why a member declaring ``size`` bytes is refused before reading it, else None."""
        if size > self.file_bytes:
            return f"declares {size} bytes, more than the {self.file_bytes}-byte cap per file"
        return None


class Budget:
    """Bytes unpacked so far from one archive, against ``Limits.total_bytes``."""

    def __init__(self, limits: Limits):
        self.limits, self.used = limits, 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limits.total_bytes:
            raise Refused(
                f"the archive unpacks to more than {self.limits.total_bytes} bytes "
                "(the total cap); this member and the rest are refused"
            )


def spool_path(dest: Path) -> Path:
    """The hidden temporary name beside ``dest`` (also what a staged copy is called)."""
    return dest.with_name(f".{dest.name[:200]}.{uuid.uuid4().hex[:12]}.part")


def spool(stream: IO[bytes], *, declared: int, dest: Path, budget: Budget) -> Path:
    """Copy ``stream`` to a hidden file beside ``dest`` in chunks; return its path.

    Raises :class:`Refused` (having deleted the partial file) when the stream yields more
    than ``declared`` bytes or than the per-file cap, or the archive passes its total cap.
    """
    cap = min(declared, budget.limits.file_bytes)
    tmp = spool_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with open(tmp, "wb") as out:
            # one byte past the cap is enough to know the member lies about its size
            while chunk := stream.read(min(CHUNK_BYTES, cap + 1 - written)):
                written += len(chunk)
                if written > cap:
                    why = "its declared size" if cap == declared else "the per-file cap"
                    raise Refused(f"unpacks to more than {cap} bytes ({why}); refused")
                budget.take(len(chunk))
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def discard(path: str | os.PathLike | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)
