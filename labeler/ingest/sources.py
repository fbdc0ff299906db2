"""Where images come from: a folder, a .zip or a .tar(.gz), and which entries are refused.

:func:`open_source` turns SRC into a :class:`Source`: a count and an iterator of
:class:`Entry` objects, each a safe relative POSIX path plus either a file to read
(folders), the member's open stream (archives, valid until the next entry is asked for:
:mod:`labeler.ingest.spool` copies it to disk) or the reason it is refused. Nothing here
writes anything; :func:`safe_relpath` is the single gate every name passes through
before it is joined to the destination folder (zip slip).
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from labeler.ingest.spool import Limits

MAX_COMPONENT_BYTES = 255  # NAME_MAX on Linux, macOS and Windows (NTFS, in UTF-16 units)
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


class SourceError(ValueError):
    """SRC is not something that can be ingested."""


class UnsafeName(ValueError):
    """An entry name that must not be written to disk."""


@dataclass(frozen=True)
class Entry:
    """One file of a source: ``rel`` is its POSIX path relative to the source root."""

    rel: str
    path: str | None = None
    stream: IO[bytes] | None = None
    size: int = 0  # what an archive member declares (a folder file: its size on disk)
    error: str | None = None


@dataclass(frozen=True)
class Source:
    kind: str  # "folder", "zip" or "tar"
    count: int  # entries the iterator will yield
    ignored: int  # hidden files and OS clutter, skipped silently
    entries: Iterator[Entry]


def safe_relpath(name: str) -> str:
    """Normalise an entry name to a relative POSIX path, or raise :class:`UnsafeName`.

    Refuses absolute paths (``/x``, ``C:x``, ``\\\\x``), ``..`` components, backslashes,
    NUL and other control characters and components over 255 bytes.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UnsafeName("name contains a control character")
    if "\\" in name:
        raise UnsafeName("name contains a backslash (a Windows path separator)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeName("absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeName("'..' in path (would write outside the dataset)")
    if not parts:
        raise UnsafeName("empty name")
    for part in parts:
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise UnsafeName("name is not valid UTF-8") from None
        if size > MAX_COMPONENT_BYTES:
            raise UnsafeName(f"path component longer than {MAX_COMPONENT_BYTES} bytes")
    return "/".join(parts)


def is_ignored(name: str) -> bool:
    """Hidden files and folders (``.DS_Store``, ``.git``) and OS clutter (``__MACOSX``).

    Unsafe names are never ignored, so ``../x`` is reported as refused, not hidden.
    """
    try:
        rel = safe_relpath(name)
    except UnsafeName:
        return False
    return any(p.startswith(".") or p in IGNORED_NAMES for p in rel.split("/"))


def _checked(raw: str, **fields) -> Entry:
    try:
        return Entry(rel=safe_relpath(raw), **fields)
    except UnsafeName as exc:
        return Entry(rel=raw, error=str(exc))


def _folder(root: Path, limits: Limits) -> Source:
    found: list[Entry] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinked folders
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
            rel = (base / name).relative_to(root).as_posix()
            if is_ignored(rel):
                ignored += 1
                continue
            st = os.lstat(base / name)
            mode, too_big = st.st_mode, limits.check_declared(st.st_size)
            if stat.S_ISLNK(mode):
                found.append(Entry(rel=rel, error="symbolic link (not followed)"))
            elif not stat.S_ISREG(mode):
                found.append(Entry(rel=rel, error="not a regular file (device, FIFO or socket)"))
            elif too_big:
                found.append(Entry(rel=rel, error=too_big))
            else:
                found.append(_checked(rel, path=str(base / name)))
        dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
    return Source("folder", len(found), ignored, iter(found))


def _zip_entries(src: Path, infos: list[zipfile.ZipInfo], limits: Limits) -> Iterator[Entry]:
    with zipfile.ZipFile(src) as zf:
        for info in infos:
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            if stat.S_ISLNK(mode):
                yield Entry(rel=info.filename, error="symbolic link in archive (refused)")
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # many zips store no file type
                yield Entry(rel=info.filename, error="device file or FIFO in archive (refused)")
            elif info.flag_bits & 0x1:
                yield Entry(rel=info.filename, error="encrypted archive member")
            elif too_big := limits.check_declared(info.file_size):
                yield Entry(rel=info.filename, error=too_big)
            else:
                entry = _checked(info.filename)
                if entry.error:
                    yield entry
                    continue
                try:
                    stream = zf.open(info)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                    yield Entry(rel=entry.rel, error=f"corrupt archive member ({exc})")
                    continue
                with stream:
                    yield Entry(rel=entry.rel, stream=stream, size=info.file_size)


def _zip(src: Path, limits: Limits) -> Source:
    with zipfile.ZipFile(src) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    kept = sorted((i for i in infos if not is_ignored(i.filename)), key=lambda i: i.filename)
    return Source("zip", len(kept), len(infos) - len(kept), _zip_entries(src, kept, limits))


def _tar_entries(src: Path, members: list[tarfile.TarInfo], limits: Limits) -> Iterator[Entry]:
    with tarfile.open(src, "r:*") as tf:
        for m in members:  # archive order: a .tar.gz cannot seek backwards cheaply
            if m.issym() or m.islnk():
                kind = "symbolic" if m.issym() else "hard"
                yield Entry(rel=m.name, error=f"{kind} link in archive (refused)")
            elif m.isdev():
                yield Entry(rel=m.name, error="device file or FIFO in archive (refused)")
            elif not m.isfile():
                yield Entry(rel=m.name, error="not a regular file")
            elif too_big := limits.check_declared(m.size):
                yield Entry(rel=m.name, error=too_big)
            else:
                entry = _checked(m.name)
                if entry.error:
                    yield entry
                    continue
                with tf.extractfile(m) as stream:
                    yield Entry(rel=entry.rel, stream=stream, size=m.size)


def _tar(src: Path, limits: Limits) -> Source:
    try:
        with tarfile.open(src, "r:*") as tf:
            members = [m for m in tf.getmembers() if not m.isdir()]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceError(f"{src}: corrupt tar archive ({exc})") from None
    kept = [m for m in members if not is_ignored(m.name)]
    return Source("tar", len(kept), len(members) - len(kept), _tar_entries(src, kept, limits))


def open_source(src: str | os.PathLike, *, limits: Limits = Limits()) -> Source:  # noqa: B008
    """Recognise SRC by content: a folder (recursive), a zip or a tar (plain, gz, bz2, xz).

    Files and members declaring more than ``limits.file_bytes`` come back refused."""
    path = Path(src)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        return _folder(path, limits)
    if zipfile.is_zipfile(path):
        try:
            return _zip(path, limits)
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{path}: corrupt zip archive ({exc})") from None
    try:
        is_tar = tarfile.is_tarfile(path)
    except (tarfile.TarError, EOFError, OSError) as exc:  # e.g. a gzip stream cut short
        raise SourceError(f"{path}: corrupt archive ({exc})") from None
    if is_tar:
        return _tar(path, limits)
    raise SourceError(f"{path}: not a folder, a .zip or a .tar(.gz) archive")
