"""Dataset versions with real git and DVC repos in tmp_path (see ``version_ws`` in conftest)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from labeler.store.models import Box, Image, LabelClass

DEMO = Path(__file__).resolve().parents[2] / "datasets" / "demo"
LABEL_FILES = ("labelstudio.json", "labelstudio.xml", "coco.json", "manifest.json")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(root) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def edit_labels(ws) -> None:
    """One of each change: move an RBC, relabel an RBC to WBC, delete a Platelets box,
    add an image with one WBC box."""
    with ws.sessions.begin() as s:
        images = s.scalars(select(Image).order_by(Image.path)).all()
        wbc = s.scalar(select(LabelClass).where(LabelClass.name == "WBC"))
        rbcs = [b for b in images[0].boxes if b.label.name == "RBC"]
        rbcs[0].x += 5.0
        [b for b in images[1].boxes if b.label.name == "RBC"][0].label = wbc
        platelet = next(b for im in images for b in im.boxes if b.label.name == "Platelets")
        s.delete(platelet)
        name = sorted(p.name for p in (DEMO / "images").glob("*.jpg"))[6]
        dest = ws.dataset_dir("demo") / "images" / name
        shutil.copyfile(DEMO / "images" / name, dest)
        image = Image(
            dataset_id=images[0].dataset_id,
            path=f"datasets/demo/images/{name}",
            sha256=sha256(dest),
            width=640,
            height=480,
            format="jpeg",
            state="done",
        )
        image.boxes.append(Box(label=wbc, x=10, y=10, w=50, h=40, status="accepted"))
        s.add(image)


def git_out(root, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def test_create_list_diff_checkout(version_ws):
    from labeler.versioning import VersionError, checkout_version, create_version, list_versions
    from labeler.versioning.diff import diff_versions, read_version_file

    ws = version_ws
    v1, manifest1 = create_version(ws, "demo", message="first labels")
    labels = ws.dataset_dir("demo") / "labels"
    for name in LABEL_FILES:
        assert (labels / name).is_file(), name
    assert any((labels / "yolo").rglob("*.txt")) and any((labels / "voc").rglob("*.xml"))
    # the manifest's checksums are those of the files on disk (every file but itself)
    on_disk = tree_hashes(ws.dataset_dir("demo"))
    assert manifest1["sha256"] == {k: v for k, v in on_disk.items() if k != "labels/manifest.json"}
    assert manifest1["counts"]["boxes_by_label"] == {"RBC": 135, "WBC": 6, "Platelets": 6}
    assert manifest1["counts"]["images_by_state"] == {"done": 6}
    assert manifest1["label_set"] == ["RBC", "WBC", "Platelets"]
    assert manifest1["completeness"]["complete"] is True
    v1_coco = (labels / "coco.json").read_bytes()

    edit_labels(ws)
    v2, manifest2 = create_version(ws, "demo", message="fixes")
    assert (v1.tag, v2.tag) == ("demo@v1", "demo@v2")
    assert manifest2["counts"]["boxes_by_label"] == {"RBC": 134, "WBC": 8, "Platelets": 5}

    listed = list_versions(ws, "demo")
    assert [(v.number, v.message, v.counts["images"]) for v in listed] == [
        (1, "first labels", 6),
        (2, "fixes", 7),
    ]
    assert listed[1].commit == git_out(ws.root, "rev-parse", "demo@v2^{commit}").strip()
    # committed: the .dvc file and the ignore entry, not the data
    assert "datasets/demo.dvc" in git_out(ws.root, "ls-files")
    assert "/demo" in (ws.root / "datasets" / ".gitignore").read_text()
    assert "datasets/demo/images" not in git_out(ws.root, "ls-files")

    diff = diff_versions(ws, "demo", "v1", "demo@v2").to_dict()
    assert diff["images_added"] == [sorted(p.name for p in (DEMO / "images").glob("*.jpg"))[6]]
    assert diff["images_removed"] == []
    assert diff["labels"]["RBC"] == {"added": 0, "removed": 0, "moved": 1, "unchanged": 133,
                                     "relabelled_from": 1, "relabelled_to": 0}  # fmt: skip
    assert diff["labels"]["WBC"]["added"] == 1 and diff["labels"]["WBC"]["relabelled_to"] == 1
    assert diff["labels"]["Platelets"]["removed"] == 1
    assert diff["relabelled"] == [{"from": "RBC", "to": "WBC", "boxes": 1}]

    assert read_version_file(ws, "demo", 1, "labels/coco.json") == v1_coco
    checkout_version(ws, "demo", "v1")
    assert (labels / "coco.json").read_bytes() == v1_coco
    assert len(list((ws.dataset_dir("demo") / "images").iterdir())) == 6
    with pytest.raises(VersionError, match="1 image.*missing on disk.*check out the latest"):
        create_version(ws, "demo", message="database and files disagree")
    checkout_version(ws, "demo", "v2")
    assert len(list((ws.dataset_dir("demo") / "images").iterdir())) == 7


def test_commits_with_fallback_identity_only_when_git_has_none(version_ws):
    from labeler.versioning import create_version

    create_version(version_ws, "demo", message="one")
    assert git_out(version_ws.root, "log", "-1", "--format=%an <%ae>").strip() == (
        "Labeler <labeler@localhost>"
    )
    git_out(version_ws.root, "config", "user.email", "ann@example.org")
    git_out(version_ws.root, "config", "user.name", "Ann")
    create_version(version_ws, "demo", message="two")
    assert git_out(version_ws.root, "log", "-1", "--format=%an <%ae>").strip() == (
        "Ann <ann@example.org>"
    )


def test_refuses_incomplete_dataset_and_writes_nothing(version_ws):
    from labeler.versioning import IncompleteDataset, create_version, list_versions

    with version_ws.sessions.begin() as s:
        s.scalars(select(Image).order_by(Image.path)).first().state = "in_progress"
    with pytest.raises(IncompleteDataset, match="not complete.*--allow-incomplete") as err:
        create_version(version_ws, "demo", message="too early")
    assert err.value.report.blocking
    assert list_versions(version_ws, "demo") == []
    assert not (version_ws.dataset_dir("demo") / "labels").exists()
    assert not (version_ws.root / "datasets" / "demo.dvc").exists()
    assert not (version_ws.root / ".labeler" / "version.journal").exists()  # not a crash

    info, manifest = create_version(version_ws, "demo", message="anyway", allow_incomplete=True)
    gate = manifest["completeness"]
    assert (gate["complete"], gate["allowed_incomplete"]) == (False, True)
    assert gate["blockers"] == list(err.value.report.blockers)
    on_disk = json.loads((version_ws.dataset_dir("demo") / "labels" / "manifest.json").read_text())
    assert on_disk["completeness"] == gate
    assert info.counts["complete"] is False


def test_clone_and_pull_reproduce_each_version_byte_for_byte(version_ws, tmp_path):
    from labeler.versioning import add_remote, create_version

    ws = version_ws
    remote = tmp_path / "remote"
    remote.mkdir()
    assert add_remote(ws, str(remote)) == str(remote)
    expected = {}
    _, m1 = create_version(ws, "demo", message="v1", push=True)
    expected["demo@v1"] = tree_hashes(ws.dataset_dir("demo"))
    edit_labels(ws)
    _, m2 = create_version(ws, "demo", message="v2", push=True)
    expected["demo@v2"] = tree_hashes(ws.dataset_dir("demo"))
    assert expected["demo@v1"] != expected["demo@v2"]

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ws.root), str(clone)], check=True)
    for tag, manifest in (("demo@v1", m1), ("demo@v2", m2)):
        subprocess.run(["git", "checkout", "-q", tag], cwd=clone, check=True)
        subprocess.run([sys.executable, "-m", "dvc", "pull", "-q"], cwd=clone, check=True)
        got = tree_hashes(clone / "datasets" / "demo")
        assert got == expected[tag]
        assert {k: v for k, v in got.items() if k != "labels/manifest.json"} == manifest["sha256"]


def test_lock_timeout_names_the_lock_and_its_holder(version_ws):
    from labeler.versioning import VersionError, create_version

    path = version_ws.root / ".labeler" / "version.lock"
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.write("pid 4242: version create demo\n")
        fh.flush()
        with pytest.raises(VersionError, match=r"timed out .*version\.lock.*pid 4242"):
            create_version(version_ws, "demo", message="blocked", lock_timeout=0.5)


def test_checkout_refuses_to_drop_unversioned_files(version_ws):
    from labeler.versioning import VersionError, checkout_version, create_version

    create_version(version_ws, "demo", message="v1")
    extra = version_ws.dataset_dir("demo") / "images" / "new.jpg"
    shutil.copyfile(DEMO / "images" / "BloodImage_00393.jpg", extra)
    with pytest.raises(VersionError, match="in no version.*--force"):
        checkout_version(version_ws, "demo", "v1")
    assert extra.exists()
    checkout_version(version_ws, "demo", "v1", force=True)
    assert not extra.exists()


def test_recovery_after_a_dead_holder(version_ws):
    """What a SIGKILLed run leaves: journal, scratch snapshot, git index.lock, DVC lock file."""
    from labeler.versioning import create_version

    ws = version_ws
    cfg = ws.root / ".labeler"
    (cfg / "version.journal").write_text(json.dumps({"pid": 999999, "what": "killed"}))
    scratch = cfg / "tmp" / "version-999999-1" / "labels"
    scratch.mkdir(parents=True)
    (scratch / "coco.json").write_text("{half")
    (ws.root / ".git" / "index.lock").write_text("")
    (ws.root / ".dvc" / "tmp").mkdir(exist_ok=True)
    (ws.root / ".dvc" / "tmp" / "lock").write_text("")
    info, _ = create_version(ws, "demo", message="after a crash")
    assert info.number == 1
    assert not (cfg / "version.journal").exists()
    assert list((cfg / "tmp").iterdir()) == []
    assert not (ws.root / ".git" / "index.lock").exists()


@pytest.mark.parametrize(
    ("version", "expected"),
    [("v3", 3), ("3", 3), (3, 3), ("demo@v12", 12), (" v1 ", 1)],
)
def test_parse_version(version, expected):
    from labeler.versioning import parse_version

    assert parse_version("demo", version) == expected


@pytest.mark.parametrize("version", ["v0", "x3", "other@v1", "", "v-1", "v1.2"])
def test_parse_version_rejects(version):
    from labeler.versioning import VersionError, parse_version

    with pytest.raises(VersionError, match="bad version"):
        parse_version("demo", version)


@pytest.mark.parametrize("name", ["", "../x", "a b", "-x", "a.lock", "x@{1}", "a/b", "a.."])
def test_bad_dataset_names(name):
    from labeler.versioning import VersionError, check_name

    with pytest.raises(VersionError, match="cannot be versioned"):
        check_name(name)


def test_unknown_version_lists_known_ones(version_ws):
    from labeler.versioning import VersionError, create_version, get_version

    create_version(version_ws, "demo", message="v1")
    with pytest.raises(VersionError, match=r"no version demo@v5 \(versions of demo: v1\)"):
        get_version(version_ws, "demo", "v5")


def test_env_has_no_git_identity(git_env):
    """The fixture really hides any identity, so the fallback test above can fail."""
    proc = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True,
                          cwd=git_env, env={**os.environ})  # fmt: skip
    assert proc.stdout.strip() == ""


def test_train_example_reads_a_pinned_version_from_git_and_the_remote(version_ws, tmp_path):
    """scripts/train_example.py, run as training code would: a git URL, the tag, no Labeler."""
    from labeler.versioning import add_remote, create_version

    ws = version_ws
    add_remote(ws, str(tmp_path / "remote"))
    create_version(ws, "demo", message="v1", push=True)
    v1 = tree_hashes(ws.dataset_dir("demo") / "images")
    edit_labels(ws)
    create_version(ws, "demo", message="v2", push=True)
    shutil.rmtree(ws.root / ".dvc" / "cache")  # everything must come from the remote
    out = tmp_path / "train"
    script = Path(__file__).resolve().parents[2] / "scripts" / "train_example.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--repo", f"file://{ws.root}", "--dataset", "demo",
         "--rev", "demo@v1", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == {"rev": "demo@v1", "images": 6,
                       "boxes": {"Platelets": 6, "RBC": 135, "WBC": 6}}  # fmt: skip
    assert tree_hashes(out / "images") == v1


def test_unchanged_label_files_are_reused_and_hand_edits_are_not(version_ws):
    """Identical export files are hard-linked from the previous snapshot (DVC skips
    re-hashing them); a file edited by hand since is regenerated, never carried over."""
    from labeler.versioning import create_version

    ws = version_ws
    create_version(ws, "demo", message="v1")
    labels = ws.dataset_dir("demo") / "labels"
    txts = sorted((labels / "yolo").rglob("*.txt"))
    kept, edited = txts[0], txts[1]
    inode, original = kept.stat().st_ino, edited.read_bytes()
    edited.write_text("0 0.5 0.5 0.1 0.1\n")  # a hand edit after v1
    _, manifest = create_version(ws, "demo", message="v2")
    assert kept.stat().st_ino == inode
    assert edited.read_bytes() == original
    assert manifest["sha256"][edited.relative_to(ws.dataset_dir("demo")).as_posix()] == (
        hashlib.sha256(original).hexdigest()
    )
