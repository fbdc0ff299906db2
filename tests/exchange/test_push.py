"""push-labelstudio against a real Label Studio server (labeler.exchange.push)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from labeler.cli import cli
from labeler.exchange.push import PushError, build_tasks, connect, local_files_prefix, push
from labeler.formats import load_records
from labeler.store.models import Box

TOL = 0.01  # px


def _as_dict(item):
    return item if isinstance(item, dict) else item.model_dump()


def _px(result):
    v, w, h = result["value"], result["original_width"], result["original_height"]
    return (v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100, v["height"] * h / 100)


def _read_back(server, project_id):
    """``labeler_path`` -> (accepted [(label, xywh)], proposed [(label, xywh, score, version)])."""
    ls, http = connect(server.url, server.token)
    with http:
        tasks = list(ls.tasks.list(project=project_id, fields="all"))
    out = {}
    for task in tasks:
        path = task.data["labeler_path"]
        assert path not in out, f"duplicate task for {path}"
        accepted = [
            (r["value"]["rectanglelabels"][0], _px(r))
            for a in map(_as_dict, task.annotations or [])
            for r in a["result"]
        ]
        proposed = [
            (r["value"]["rectanglelabels"][0], _px(r), r.get("score"), p["model_version"])
            for p in map(_as_dict, task.predictions or [])
            for r in p["result"]
        ]
        out[path] = (sorted(accepted), sorted(proposed), task.id, task.data)
    return out


def _compare(records, got):
    assert set(got) == {image.path for image in records.images}
    n = 0
    for image in records.images:
        accepted, proposed, _, _ = got[image.path]
        want = sorted((b.label, (b.x, b.y, b.w, b.h)) for b in image.accepted)
        assert [a[0] for a in accepted] == [w[0] for w in want], image.path
        for a, w in zip(accepted, want, strict=True):
            assert a[1] == pytest.approx(w[1], abs=TOL)
            n += 1
        want_p = sorted((b.label, (b.x, b.y, b.w, b.h), b.score, b.model_version)
                        for b in image.proposed)  # fmt: skip
        assert len(proposed) == len(want_p), image.path
        for p, w in zip(proposed, want_p, strict=True):
            assert (p[0], p[2], p[3]) == (w[0], w[2], w[3])
            assert p[1] == pytest.approx(w[1], abs=TOL)
            n += 1
    return n


def _push(ws, server, title, **kw):
    records = load_records(ws, "demo")
    images = ws.dataset_dir("demo") / "images"
    result = push(records, url=server.url, token=server.token, title=title, images_dir=images,
                  document_root=server.document_root, **kw)  # fmt: skip
    return records, result


def test_tasks_use_our_image_server_when_given_a_prefix(formats_records):
    tasks = build_tasks(formats_records, image_url_prefix="http://h:5000/api/v1/images/")
    assert [t["data"]["image"] for t in tasks] == [
        f"http://h:5000/api/v1/images/{i.image_id}/file" for i in formats_records.images
    ]
    paths = [t["data"]["labeler_path"] for t in tasks]
    assert paths == [i.path for i in formats_records.images]


@pytest.mark.parametrize(
    ("images", "root", "expected"),
    [("/w/datasets/d/images", "/w", "/data/local-files/?d=datasets/d/images/"),
     ("/w/datasets/d/images", "/", "/data/local-files/?d=w/datasets/d/images/"),
     ("/w/datasets/d/images", "/elsewhere", None)],
)  # fmt: skip
def test_local_files_prefix(images, root, expected):
    if expected is None:
        with pytest.raises(PushError, match="not under Label Studio's LOCAL_FILES_DOCUMENT_ROOT"):
            local_files_prefix(Path(images), Path(root))
    else:
        assert local_files_prefix(Path(images), Path(root)) == expected


def test_unreachable_server_is_a_clear_error(formats_records):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(PushError, match="Label Studio: listing projects failed"):
        push(formats_records, url=f"http://127.0.0.1:{port}", token="x", title="t")


@pytest.mark.slow
def test_push_reads_back_every_box(formats_ws, labelstudio_server):
    records, result = _push(formats_ws, labelstudio_server, "read-back")
    assert result.created == len(records.images) == 24 and result.deleted == 0
    got = _read_back(labelstudio_server, result.project_id)
    assert _compare(records, got) > 300
    empty = next(i for i in records.images if i.state == "empty")
    assert got[empty.path][0] == []  # confirmed empty: an annotation with no result


@pytest.mark.slow
def test_push_twice_replaces_instead_of_duplicating(formats_ws, labelstudio_server):
    _, first = _push(formats_ws, labelstudio_server, "twice")
    before = _read_back(labelstudio_server, first.project_id)
    with formats_ws.sessions.begin() as s:  # a box moved in Labeler between the pushes
        box = s.scalars(select(Box).where(Box.status == "accepted").order_by(Box.id)).first()
        box.x += 5.5
    records, second = _push(formats_ws, labelstudio_server, "twice")
    assert second.project_id == first.project_id
    assert second.deleted == first.created == 24
    after = _read_back(labelstudio_server, second.project_id)
    assert len(after) == 24
    assert not {t[2] for t in before.values()} & {t[2] for t in after.values()}
    _compare(records, after)  # includes the moved box


@pytest.mark.slow
def test_images_are_served_through_local_files(formats_ws, labelstudio_server):
    _, result = _push(formats_ws, labelstudio_server, "served")
    got = _read_back(labelstudio_server, result.project_id)
    path, (_, _, _, data) = sorted(got.items())[0]
    _, http = connect(labelstudio_server.url, labelstudio_server.token)
    with http:
        headers = {"Authorization": f"Token {labelstudio_server.token}"}
        resp = http.get(labelstudio_server.url + data["image"], headers=headers)
    assert resp.status_code == 200
    assert resp.content == (formats_ws.dataset_dir("demo") / "images" / path).read_bytes()


@pytest.mark.slow
def test_bad_token_is_a_clear_error(formats_ws, labelstudio_server):
    records = load_records(formats_ws, "demo")
    with pytest.raises(PushError, match="listing projects failed"):
        push(records, url=labelstudio_server.url, token="wrong-token", title="nope")


@pytest.mark.slow
def test_cli(formats_ws, labelstudio_server):
    args = ["push-labelstudio", "--url", labelstudio_server.url, "--token",
            labelstudio_server.token, "--dataset", "demo", "--project", "cli",
            "--local-files-root", str(labelstudio_server.document_root),
            "--workspace", str(formats_ws.root)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "24 tasks imported" in result.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "24 replaced" in again.output
    bad = CliRunner().invoke(cli, [a if a != "demo" else "nope" for a in args])
    assert bad.exit_code == 1 and "no dataset named 'nope'" in bad.output


def _export(ls, project_id, kind):
    """Label Studio's quick JSON export (predictions by id only), or a snapshot with them."""
    import json
    import time

    if kind == "quick":
        return ls.projects.exports.as_json(project_id)
    opts = {"predictions": {"only_id": False}}
    snap = ls.projects.exports.create(project_id, title="t", serialization_options=opts)
    deadline = time.monotonic() + 120
    while ls.projects.exports.get(project_id, export_pk=snap.id).status != "completed":
        assert time.monotonic() < deadline, "snapshot export did not complete"
        time.sleep(1)
    data = b"".join(ls.projects.exports.download(project_id, export_pk=snap.id, export_type="JSON"))
    return json.loads(data)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "keep_labeler_fields"), [("quick", True), ("snapshot", False)])
def test_label_studio_export_imports_back(
    formats_ws, formats_blank_ws, labelstudio_server, tmp_path, kind, keep_labeler_fields
):
    """Label Studio's own JSON export of a pushed project imports into a fresh dataset; without
    our ``labeler_*`` fields the tasks are matched by the image URL alone. The quick export
    lists predictions by id only: those are reported, not imported."""
    import dataclasses
    import json

    from labeler.exchange.imports import import_records
    from labeler.formats import labelstudio

    records, result = _push(formats_ws, labelstudio_server, f"export-{kind}")
    ls, http = connect(labelstudio_server.url, labelstudio_server.token)
    with http:
        exported = _export(ls, result.project_id, kind)
    assert len(exported) == 24
    if not keep_labeler_fields:
        for task in exported:
            task["data"] = {"image": task["data"]["image"]}
    path = tmp_path / "ls-export.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    parsed = labelstudio.parse(path)
    assert bool(parsed.notes) == (kind == "quick")
    report = import_records(formats_blank_ws, "demo", parsed, source=path)
    assert report.images == 24
    if kind == "quick":
        keep = lambda img: dataclasses.replace(img, boxes=img.accepted)  # noqa: E731
        records = dataclasses.replace(records, images=tuple(map(keep, records.images)))
    back = load_records(formats_blank_ws, "demo")
    got = {
        img.path: (
            sorted((b.label, (b.x, b.y, b.w, b.h)) for b in img.accepted),
            sorted((b.label, (b.x, b.y, b.w, b.h), b.score, b.model_version) for b in img.proposed),
            None,
            None,
        )
        for img in back.images
    }
    assert _compare(records, got) > 300


@pytest.mark.slow
def test_images_outside_label_studios_document_root_are_explained(
    formats_ws, labelstudio_server, demo_dir
):
    records = load_records(formats_ws, "demo")
    images = demo_dir / "images"  # the repository's copy: outside the server's document root
    with pytest.raises(PushError) as err:
        push(records, url=labelstudio_server.url, token=labelstudio_server.token,
             title="outside", images_dir=images, document_root=demo_dir.parents[1])  # fmt: skip
    message = str(err.value)
    assert "adding local storage" in message and "must be a subdirectory" in message
    assert "--image-url-prefix" in message
