"""Atomic writing of export files (labeler.formats._files)."""

from __future__ import annotations

import pytest

from labeler.formats._files import write_files


def test_writes_nested_files_and_replaces_old_ones(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    written = write_files(tmp_path, {"a.txt": "new", "sub/deeper/b.txt": "b\n"})
    assert written == [tmp_path / "a.txt", tmp_path / "sub/deeper/b.txt"]
    assert (tmp_path / "a.txt").read_text() == "new"
    assert (tmp_path / "sub/deeper/b.txt").read_text() == "b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "sub"]  # no temp folder left


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/x.txt", "sub/../../x.txt", ""])
def test_refuses_paths_outside_and_writes_nothing(tmp_path, bad):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="outside the export folder"):
        write_files(out, {"ok.txt": "fine", bad: "no"})
    assert list(out.iterdir()) == []


def test_failure_while_staging_leaves_old_files_whole(tmp_path):
    (tmp_path / "tasks.json").write_text("[1, 2, 3]")
    with pytest.raises(TypeError):
        write_files(tmp_path, {"tasks.json": "[4]", "b.txt": None})  # second file cannot be written
    assert (tmp_path / "tasks.json").read_text() == "[1, 2, 3]"
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]
