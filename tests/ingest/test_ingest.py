"""labeler.ingest: folders and archives into a dataset, every bad case refused by name."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import encode, exif_rotated_jpeg, png_bomb, truncated_jpeg
from sqlalchemy import func, select

from labeler.cli import cli
from labeler.imageio import read_image
from labeler.ingest import SourceError, UnsafeName, ingest, load_demo_boxes, safe_relpath
from labeler.store.models import Box, Dataset, Image
from labeler.workspace import Workspace


def test_demo_ws_has_the_demo_dataset(demo_ws):
    with demo_ws.sessions() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == "demo"))
        assert [(lc.name, lc.hotkey) for lc in ds.labels] == [
            ("RBC", 1),
            ("WBC", 2),
            ("Platelets", 3),
        ]
        images = s.scalars(select(Image).order_by(Image.path)).all()
    assert len(images) == 24
    assert all(im.path.startswith("datasets/demo/images/") for im in images)
    assert all((im.width, im.height, im.format) == (640, 480, "jpeg") for im in images)
    assert all(demo_ws.abspath(im.path).is_file() for im in images)


def test_demo_ws_copies_are_independent(demo_ws):
    assert load_demo_boxes(demo_ws) == 566
    with demo_ws.sessions() as s:
        assert s.scalar(select(func.count(Box.id))) == 566
        assert s.scalar(select(func.count(Box.id)).where(Box.is_exemplar)) == 5


def test_demo_ws_starts_without_boxes(demo_ws):
    with demo_ws.sessions() as s:
        assert s.scalar(select(func.count(Box.id))) == 0


def test_load_demo_boxes_limit_images(demo_ws):
    added = load_demo_boxes(demo_ws, status="proposed", limit_images=2)
    with demo_ws.sessions() as s:
        statuses = set(s.scalars(select(Box.status)))
        n_images = s.scalar(select(func.count(func.distinct(Box.image_id))))
    assert 0 < added < 566
    assert statuses == {"proposed"} and n_images == 2


# --- the files every source kind is tested with ---

GOOD = {  # name -> (bytes, displayed width, height, format)
    "png/rgb.png": (encode(".png", 48, 32, seed=1), 48, 32, "png"),
    "jpeg/photo.jpg": (encode(".jpg", 40, 30, seed=2), 40, 30, "jpeg"),
    "tiff/gray16.tif": (encode(".tif", 20, 10, channels=1, dtype=np.uint16), 20, 10, "tiff"),
    "tiff/rgb16.tiff": (encode(".tif", 12, 8, seed=3, dtype=np.uint16), 12, 8, "tiff"),
    "bmp/a.bmp": (encode(".bmp", 16, 16, seed=4), 16, 16, "bmp"),
    "webp/a.webp": (encode(".webp", 24, 20, seed=5), 24, 20, "webp"),
    "exif/rotated.jpg": (exif_rotated_jpeg(64, 32, orientation=6), 32, 64, "jpeg"),
    "misnamed.jpg": (encode(".png", 10, 12, seed=6), 10, 12, "png"),  # content decides
    "a/b/c/deep.png": (encode(".png", 8, 8, seed=7), 8, 8, "png"),
}
BAD = {  # name -> (bytes, a regex the rejection reason must match)
    "empty.png": (b"", r"empty file \(0 bytes\)"),
    "text.png": (b"this is not an image\n", r"not a PNG, JPEG, TIFF, BMP or WebP"),
    "truncated.jpg": (truncated_jpeg(), r"truncated"),
    "bomb.png": (png_bomb(), r"10000000000 pixels.*max_pixels"),
    "anim.gif": (b"GIF89a" + bytes(20), r"not a PNG, JPEG, TIFF, BMP or WebP"),
    "broken.png": (encode(".png", 30, 30)[:60], r"cannot decode|truncated|unreadable"),
}
DUPLICATE = {"z-dup/copy-of-rgb.png": GOOD["png/rgb.png"][0]}  # sorts after png/
HIDDEN = {".DS_Store": b"junk", "__MACOSX/._rgb.png": b"junk"}


def files() -> dict[str, bytes]:
    return {
        **{k: v[0] for k, v in GOOD.items()},
        **{k: v[0] for k, v in BAD.items()},
        **DUPLICATE,
        **HIDDEN,
    }


def write_tree(root: Path, tree: dict[str, bytes]) -> Path:
    for name, data in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def make_zip(path: Path, tree: dict[str, bytes], *, symlinks: dict[str, str] = {}) -> Path:  # noqa: B006
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in tree.items():
            zf.writestr(name, data)
        for name, target in symlinks.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def make_tar(path: Path, mode: str, tree: dict[str, bytes], *, specials=()) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in tree.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in specials:
            tf.addfile(info)
    return path


def half(path: Path) -> Path:
    """Cut a file in the middle, as an interrupted download would."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def snapshot(root: Path, *, skip: tuple[Path, ...]) -> dict[str, bytes]:
    """Every file under ``root`` except those under ``skip``: what must not change."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and not any(p.is_relative_to(s) for s in skip):
            out[str(p)] = p.read_bytes()
    return out


def db_images(ws, dataset="cells") -> dict[str, tuple]:
    with ws.sessions() as s:
        rows = s.execute(
            select(Image.path, Image.width, Image.height, Image.format, Image.sha256, Image.state)
            .join(Dataset)
            .where(Dataset.name == dataset)
        ).all()
    prefix = f"datasets/{dataset}/images/"
    return {r.path.removeprefix(prefix): tuple(r[1:]) for r in rows}


def check_outcome(ws, report, *, dataset="cells"):
    """The shared expectations for a source holding ``files()``."""
    images = db_images(ws, dataset)
    assert {k: v[:3] for k, v in images.items()} == {k: v[1:] for k, v in GOOD.items()}
    for name, (data, *_rest) in GOOD.items():
        stored = ws.dataset_dir(dataset) / "images" / name
        assert stored.read_bytes() == data
        assert images[name][3] == hashlib.sha256(data).hexdigest()
        assert images[name][4] == "new"
    assert report.ingested == len(GOOD)
    assert report.duplicates == 1
    assert report.duplicate_of == [
        ("z-dup/copy-of-rgb.png", f"datasets/{dataset}/images/png/rgb.png")
    ]
    reasons = dict(report.rejected)
    assert set(reasons) == set(BAD)
    for name, (_data, pattern) in BAD.items():
        assert re.search(pattern, reasons[name]), (name, reasons[name])
    assert report.ignored == len(HIDDEN)
    leftovers = [p for p in ws.dataset_dir(dataset).rglob("*") if p.name.endswith(".part")]
    assert leftovers == []
    for name in [*BAD, *DUPLICATE, *HIDDEN]:
        assert not (ws.dataset_dir(dataset) / "images" / name).exists()


@pytest.fixture(params=["folder", "zip", "tar", "tar.gz", "tgz", "tar.bz2"])
def source(request, tmp_path) -> Path:
    kind = request.param
    if kind == "folder":
        return write_tree(tmp_path / "src", files())
    if kind == "zip":
        return make_zip(tmp_path / "src.zip", files())
    mode = {"tar": "w", "tar.gz": "w:gz", "tgz": "w:gz", "tar.bz2": "w:bz2"}[kind]
    return make_tar(tmp_path / f"src.{kind}", mode, files())


def test_ingest_every_source_kind(empty_ws, source, tmp_path):
    before = snapshot(tmp_path, skip=(empty_ws.dataset_dir("cells"), empty_ws.root / ".labeler"))
    report = ingest(empty_ws, source, dataset="cells", labels=["RBC", "WBC"], progress=False)
    check_outcome(empty_ws, report)
    after = snapshot(tmp_path, skip=(empty_ws.dataset_dir("cells"), empty_ws.root / ".labeler"))
    assert after == before  # nothing written outside datasets/cells/


def test_rerun_skips_what_is_in(empty_ws, tmp_path):
    src = write_tree(tmp_path / "src", files())
    ingest(empty_ws, src, dataset="cells", progress=False)
    first = db_images(empty_ws)
    again = ingest(empty_ws, src, dataset="cells", progress=False)
    assert (again.ingested, again.skipped_existing, again.duplicates) == (0, len(GOOD), 1)
    assert again.ok and len(again.rejected) == len(BAD)
    assert db_images(empty_ws) == first
    (src / "new.png").write_bytes(encode(".png", 9, 9, seed=99))
    third = ingest(empty_ws, src, dataset="cells", progress=False)
    assert (third.ingested, third.skipped_existing) == (1, len(GOOD))


def test_a_changed_file_is_not_silently_replaced(empty_ws, tmp_path):
    src = write_tree(tmp_path / "src", {"a.png": encode(".png", seed=1)})
    ingest(empty_ws, src, dataset="cells", progress=False)
    (src / "a.png").write_bytes(encode(".png", seed=2))
    report = ingest(empty_ws, src, dataset="cells", progress=False)
    assert report.rejected == [("a.png", "a different image is already recorded at "
                                "datasets/cells/images/a.png")]  # fmt: skip
    stored = empty_ws.dataset_dir("cells") / "images" / "a.png"
    assert stored.read_bytes() == encode(".png", seed=1)
    assert not report.ok


def test_two_workers_give_the_same_result(empty_ws, tmp_path):
    tree = {f"img{i:03d}.png": encode(".png", 32, 32, seed=i) for i in range(40)}
    tree.update(files())
    report = ingest(empty_ws, write_tree(tmp_path / "src", tree), dataset="cells",
                    workers=2, progress=False)  # fmt: skip
    assert report.ingested == len(GOOD) + 40 and report.duplicates == 1
    assert dict(report.rejected).keys() == BAD.keys()
    assert len(db_images(empty_ws)) == len(GOOD) + 40


@pytest.mark.parametrize("max_pixels, ingested", [(10_000, 9), (1_000, 6)])
def test_pixel_cap_comes_from_the_workspace_config(empty_ws, tmp_path, max_pixels, ingested):
    cfg = empty_ws.root / ".labeler" / "config.toml"
    cfg.write_text(cfg.read_text().replace("max_pixels = 100000000", f"max_pixels = {max_pixels}"))
    ws = Workspace.open(empty_ws.root)
    report = ingest(ws, write_tree(tmp_path / "src", {k: v[0] for k, v in GOOD.items()}),
                    dataset="cells", progress=False)  # fmt: skip
    assert report.ingested == ingested
    assert all("max_pixels=" + str(max_pixels) in why for _, why in report.rejected)


# --- archives that try to write elsewhere ---

ESCAPES = {  # member name -> the reason
    "../evil.png": "'..' in path",
    "a/../../evil2.png": "'..' in path",
    "/tmp/abs.png": "absolute path",
    "C:/win.png": "absolute path",
    "..\\back.png": "backslash",
    "ctrl\x01name.png": "control character",
    "nul\x00name.png": "control character",
    ("x" * 256) + ".png": "longer than 255 bytes",
}


def test_zip_slip_and_zip_symlinks_are_refused(empty_ws, tmp_path):
    payload = encode(".png", seed=11)
    tree = {"ok.png": encode(".png", seed=12), **{name: payload for name in ESCAPES}}
    tree.pop("nul\x00name.png")  # zipfile truncates names at NUL itself
    src = make_zip(tmp_path / "evil.zip", tree, symlinks={"link.png": "/etc/passwd"})
    before = snapshot(tmp_path, skip=(empty_ws.dataset_dir("cells"), empty_ws.root / ".labeler"))
    report = ingest(empty_ws, src, dataset="cells", progress=False)
    reasons = dict(report.rejected)
    assert report.ingested == 1 and list(db_images(empty_ws)) == ["ok.png"]
    assert "symbolic link" in reasons.pop("link.png")
    for name, reason in reasons.items():
        assert ESCAPES[name] in reason, (name, reason)
    assert set(reasons) == set(tree) - {"ok.png"}
    after = snapshot(tmp_path, skip=(empty_ws.dataset_dir("cells"), empty_ws.root / ".labeler"))
    assert after == before
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/abs.png").exists()


def test_tar_links_devices_and_escapes_are_refused(empty_ws, tmp_path):
    payload = encode(".png", seed=13)
    tree = {"ok.png": encode(".png", seed=14), "../evil.png": payload, "/tmp/abs2.png": payload}
    specials = [
        tar_special("sym.png", tarfile.SYMTYPE, "/etc/passwd"),
        tar_special("hard.png", tarfile.LNKTYPE, "ok.png"),
        tar_special("fifo.png", tarfile.FIFOTYPE),
        tar_special("tty.png", tarfile.CHRTYPE),
        tar_special("disk.png", tarfile.BLKTYPE),
    ]
    src = make_tar(tmp_path / "evil.tar.gz", "w:gz", tree, specials=specials)
    before = snapshot(tmp_path, skip=(empty_ws.dataset_dir("cells"), empty_ws.root / ".labeler"))
    report = ingest(empty_ws, src, dataset="cells", progress=False)
    assert report.ingested == 1
    assert dict(report.rejected) == {
        "../evil.png": "'..' in path (would write outside the dataset)",
        "/tmp/abs2.png": "absolute path",
        "sym.png": "symbolic link in archive (refused)",
        "hard.png": "hard link in archive (refused)",
        "fifo.png": "device file or FIFO in archive (refused)",
        "tty.png": "device file or FIFO in archive (refused)",
        "disk.png": "device file or FIFO in archive (refused)",
    }
    assert (
        snapshot(tmp_path, skip=(empty_ws.dataset_dir("cells"), empty_ws.root / ".labeler"))
        == before
    )
    assert not Path("/tmp/abs2.png").exists()


def test_folder_symlinks_and_fifos_are_not_followed(empty_ws, tmp_path):
    outside = write_tree(tmp_path / "outside", {"secret.png": encode(".png", seed=20)})
    src = write_tree(tmp_path / "src", {"ok.png": encode(".png", seed=21)})
    (src / "link.png").symlink_to(outside / "secret.png")
    (src / "linkdir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(src / "pipe.png")
    report = ingest(empty_ws, src, dataset="cells", progress=False)
    assert report.ingested == 1
    assert dict(report.rejected) == {
        "link.png": "symbolic link (not followed)",
        "linkdir": "symbolic link (not followed)",
        "pipe.png": "not a regular file (device, FIFO or socket)",
    }


def test_a_symlink_planted_in_the_dataset_does_not_redirect_writes(empty_ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    images = empty_ws.dataset_dir("cells") / "images"
    images.mkdir(parents=True)
    (images / "sub").symlink_to(outside, target_is_directory=True)
    src = write_tree(
        tmp_path / "src", {"sub/a.png": encode(".png"), "b.png": encode(".png", seed=3)}
    )
    report = ingest(empty_ws, src, dataset="cells", progress=False)
    assert report.ingested == 1
    assert dict(report.rejected) == {"sub/a.png": "destination folder leads outside the dataset"}
    assert list(outside.iterdir()) == []


# --- arguments ---


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "a b", "x" * 101])
def test_bad_dataset_names(empty_ws, tmp_path, name):
    with pytest.raises(ValueError, match="invalid dataset name"):
        ingest(empty_ws, tmp_path, dataset=name, progress=False)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: write_tree(p, {"x.txt": b"hello"}) / "x.txt", "not a folder, a .zip or a .tar"),
        (lambda p: write_tree(p, {"x.tgz": b"\x1f\x8b\x08garbage"}) / "x.tgz", "corrupt archive"),
        (lambda p: half(make_tar(p / "x.tar.gz", "w:gz", files())), "corrupt tar archive"),
    ],
)
def test_bad_sources(empty_ws, tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        ingest(empty_ws, make(tmp_path), dataset="cells", progress=False)


def test_source_containing_the_destination_is_refused(empty_ws):
    with pytest.raises(ValueError, match="contains the destination"):
        ingest(empty_ws, empty_ws.root, dataset="cells", progress=False)


def test_workers_must_be_positive(empty_ws, tmp_path):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        ingest(empty_ws, write_tree(tmp_path / "s", {"a.png": encode(".png")}), dataset="c",
               workers=0, progress=False)  # fmt: skip


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.png", "a.png"),
        ("./a/./b.png", "a/b.png"),
        ("a//b.png", "a/b.png"),
        ("dir/", "dir"),
        ("ünïcode/名前.png", "ünïcode/名前.png"),
    ],
)
def test_safe_relpath_normalises(name, expected):
    assert safe_relpath(name) == expected


@pytest.mark.parametrize("name, reason", [*ESCAPES.items(), ("", "empty name"), ("./", "empty")])
def test_safe_relpath_refuses(name, reason):
    with pytest.raises(UnsafeName, match=re.escape(reason)):
        safe_relpath(name)


# --- the command ---


def test_cli_ingest_reports_every_file(empty_ws, tmp_path):
    src = write_tree(tmp_path / "src", files())
    args = ["ingest", str(src), "-d", "cells", "--labels", "RBC, WBC,,", "-w", str(empty_ws.root)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == (
        f"dataset 'cells': ingested {len(GOOD)}, already in 0, duplicates 1, "
        f"rejected {len(BAD)}, ignored 2 hidden"
    )
    assert sum(line.startswith("rejected   ") for line in lines) == len(BAD)
    assert "rejected   empty.png: empty file (0 bytes)" in lines
    assert any(line.startswith("duplicate  z-dup/copy-of-rgb.png") for line in lines)
    with empty_ws.sessions() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == "cells"))
        assert [lc.name for lc in ds.labels] == ["RBC", "WBC"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["{bad}"], "Error: nothing could be ingested from"),
        (["{tmp}/nope"], "Error: {tmp}/nope: no such file or folder"),
        (["{bad}", "-d", "../up"], "Error: invalid dataset name '../up'"),
    ],
)
def test_cli_ingest_failures_are_one_line_errors(empty_ws, tmp_path, args, message):
    bad = write_tree(tmp_path / "bad", {"text.png": b"not an image"})
    fill = {"{bad}": str(bad), "{tmp}": str(tmp_path)}
    argv = [a.replace("{bad}", fill["{bad}"]).replace("{tmp}", fill["{tmp}"]) for a in args]
    if "-d" not in argv:
        argv += ["-d", "cells"]
    result = CliRunner().invoke(cli, ["ingest", *argv, "-w", str(empty_ws.root)])
    assert result.exit_code == 1
    assert message.replace("{tmp}", str(tmp_path)) in result.output
    assert "Traceback" not in result.output


def test_what_ingest_accepts_read_image_reads_the_same_size(empty_ws, tmp_path):
    src = write_tree(tmp_path / "src", {k: v[0] for k, v in GOOD.items()})
    ingest(empty_ws, src, dataset="cells", progress=False)
    for name, (w, h, _fmt, _sha, _state) in db_images(empty_ws).items():
        pixels = read_image(empty_ws.dataset_dir("cells") / "images" / name)
        assert pixels.shape[:2] == (h, w), name


def test_archive_with_a_file_and_a_folder_of_the_same_name(empty_ws, tmp_path):
    tree = {"x.png": encode(".png", seed=30), "x.png/y.png": encode(".png", seed=31)}
    report = ingest(empty_ws, make_zip(tmp_path / "clash.zip", tree), dataset="cells",
                    workers=1, progress=False)  # fmt: skip
    assert report.ingested == 1 and len(report.rejected) == 1
    assert report.rejected[0][0] == "x.png" and "cannot write it" in report.rejected[0][1]
    assert list(db_images(empty_ws)) == ["x.png/y.png"]
    assert not [p for p in empty_ws.dataset_dir("cells").rglob("*.part")]


def test_ingest_into_a_postgresql_workspace(tmp_path, pg_url):
    from labeler.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws", database_url=pg_url)
    src = write_tree(tmp_path / "src", files())
    dataset = f"pg-{tmp_path.name}"[:100]  # the session's database is shared
    try:
        report = ingest(ws, src, dataset=dataset, labels=["RBC"], progress=False)
        check_outcome(ws, report, dataset=dataset)
        again = ingest(ws, src, dataset=dataset, progress=False)
        assert (again.ingested, again.skipped_existing) == (0, len(GOOD))
    finally:
        ws.engine.dispose()


@pytest.mark.parametrize("workers", [1, 2])
def test_stopping_early_leaves_no_temporary_files(empty_ws, tmp_path, workers):
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from labeler.ingest.check import Task
    from labeler.ingest.core import _ordered_map

    dest = empty_ws.dataset_dir("cells") / "images"
    tasks = (
        Task(f"{i}.png", str(dest / f"{i}.png"), data=encode(".png", 16, 16, seed=i))
        for i in range(100)
    )
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    try:
        results = _ordered_map(tasks, 10**8, pool, workers)
        first = next(results)
        results.close()  # what a KeyboardInterrupt in the caller does
    finally:
        if pool is not None:
            pool.shutdown()
    assert first.status == "ok"
    assert sorted(p.name for p in dest.iterdir()) == [Path(first.tmp).name]
