"""Atomic writing of a set of export files.

Every exporter renders its files into memory first (``{relative path: text}``),
then :func:`write_files` writes them into a hidden temporary folder inside
``out_dir`` and moves each one into place with :func:`os.replace`. A killed
export therefore leaves only whole files (old or new) and at most a hidden
``.labeler-tmp-*`` folder, never a truncated JSON or XML.

This is :func:`labeler.fileio.atomic_write` for a set of files: the same rule (temporary
file on the same file system, then :func:`os.replace`, no fsync), but every file is staged
before the first one is moved, so an export that fails while writing leaves all old files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath


def _safe_rel(rel: str) -> PurePosixPath:
    """Refuse paths that would escape ``out_dir`` (absolute, ``..``), e.g. from odd file names."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"refusing to write outside the export folder: {rel!r}")
    return p


def write_files(out_dir: str | os.PathLike, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` (POSIX path relative to ``out_dir`` -> text) atomically.

    Returns the written paths, in the order given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rels = [_safe_rel(rel) for rel in files]
    written = []
    with tempfile.TemporaryDirectory(prefix=".labeler-tmp-", dir=out) as tmp:
        staged = []
        for i, (rel, text) in enumerate(zip(rels, files.values(), strict=True)):
            tmp_file = Path(tmp) / f"{i}{rel.suffix}"
            with open(tmp_file, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            staged.append((tmp_file, out.joinpath(*rel.parts)))
        for tmp_file, final in staged:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_file, final)
            written.append(final)
    return written
