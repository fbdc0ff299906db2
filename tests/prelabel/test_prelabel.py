"""``labeler prelabel``: idempotence, decided boxes, skipped states, kill-and-resume, Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import DEMO, PRELABEL_IMAGES
from sqlalchemy import select, update

from labeler.cli import cli
from labeler.matching import MATCHER_VERSION, iou_matrix
from labeler.prelabel import PrelabelError, prelabel
from labeler.prelabel.execute import WorkerDied
from labeler.prelabel.exemplars import ExemplarFileError
from labeler.store.models import Box, Image, Job
from labeler.store.queries import label_by_name
from labeler.testhooks import STOP_AFTER_ENV


def boxes(ws, **where) -> list[Box]:
    with ws.sessions() as s:
        q = select(Box).join(Image).order_by(Box.image_id, Box.id)
        for key, value in where.items():
            q = q.where(getattr(Box, key) == value)
        return list(s.scalars(q))


def proposal_set(ws) -> set[tuple]:
    """Proposals as comparable tuples (image, label, box rounded to 0.01 px, score)."""
    return {
        (b.image_id, b.label.name, *(round(v, 2) for v in b.xywh), round(b.score, 4))
        for b in boxes(ws, status="proposed")
    }


def set_status(ws, box_id: int, status: str) -> None:
    with ws.sessions.begin() as s:
        s.get(Box, box_id).status = status


def job(ws, job_id: int) -> Job:
    with ws.sessions() as s:
        return s.get(Job, job_id)


def test_prelabel_stores_proposals_with_params_and_job(prelabel_ws):
    job_id, summary = prelabel(prelabel_ws, "demo", workers=1)
    props = boxes(prelabel_ws, status="proposed")
    assert props and summary.images == len(PRELABEL_IMAGES)
    assert {b.image_id for b in props} == {i for i in image_ids(prelabel_ws)}
    assert sum(summary.proposals.values()) == len(props)
    for b in props:
        assert b.source == "matcher" and b.job_id == job_id and not b.is_exemplar
        assert 0.5 <= b.score <= 1.0
        assert b.params["version"] == MATCHER_VERSION and b.params["min_score"] == 0.5
        assert [e["label"] for e in b.params["exemplars"]] == [b.label.name]
        assert min(b.x, b.y) >= 0 and b.x + b.w <= 640 and b.y + b.h <= 480
    done = job(prelabel_ws, job_id)
    assert (done.kind, done.status, done.done, done.total) == ("prelabel", "done", 5, 5)
    assert done.error is None
    assert {e["box_id"] for e in done.params["exemplars"]} == {
        b.id for b in boxes(prelabel_ws, is_exemplar=True)
    }


def image_ids(ws) -> list[int]:
    with ws.sessions() as s:
        return list(s.scalars(select(Image.id).order_by(Image.id)))


def test_rerun_replaces_proposals_without_duplicates(prelabel_ws):
    prelabel(prelabel_ws, "demo", workers=2)
    first = proposal_set(prelabel_ws)
    n_first = len(boxes(prelabel_ws, status="proposed"))
    job2, _ = prelabel(prelabel_ws, "demo", workers=1)
    assert proposal_set(prelabel_ws) == first
    after = boxes(prelabel_ws, status="proposed")
    assert len(after) == n_first == len(first)
    assert {b.job_id for b in after} == {job2}


def test_accepted_and_rejected_boxes_untouched_and_never_reproposed(prelabel_ws):
    prelabel(prelabel_ws, "demo", workers=1)
    props = boxes(prelabel_ws, status="proposed")
    rng = np.random.default_rng(3)
    picked = rng.choice(len(props), size=8, replace=False)
    rejected = [props[i] for i in picked[:4]]
    accepted = [props[i] for i in picked[4:]]
    status = {b.id: "rejected" for b in rejected} | {b.id: "accepted" for b in accepted}
    for box_id, new in status.items():
        set_status(prelabel_ws, box_id, new)
    before = {b.id: (b.xywh, status[b.id], b.version + 1) for b in rejected + accepted}

    prelabel(prelabel_ws, "demo", workers=1)

    decided = {b.id: b for b in boxes(prelabel_ws) if b.status != "proposed"}
    for box_id, (xywh, want, version) in before.items():
        now = decided[box_id]
        assert (now.xywh, now.status, now.version) == (xywh, want, version)
    new = boxes(prelabel_ws, status="proposed")
    for old in rejected + accepted:
        same_image = [b for b in new if b.image_id == old.image_id]
        if status[old.id] == "rejected":  # same label only
            same_image = [b for b in same_image if b.label_id == old.label_id]
        if same_image:
            ious = iou_matrix(np.array([b.xywh for b in same_image]), np.array([old.xywh]))
            assert ious.max() < 0.5, f"re-proposed over {status[old.id]} box {old.id}"


def test_rejected_box_only_excludes_its_own_label(prelabel_ws):
    """A WBC box rejected exactly where RBC proposals are does not hide RBC proposals."""
    prelabel(prelabel_ws, "demo", label="RBC", workers=1)
    rbc = boxes(prelabel_ws, status="proposed")
    target = max(rbc, key=lambda b: b.score)
    with prelabel_ws.sessions.begin() as s:
        image = s.get(Image, target.image_id)
        wbc = label_by_name(image.dataset, "WBC")
        s.add(Box(image=image, label=wbc, x=target.x, y=target.y, w=target.w, h=target.h,
                  status="rejected", source="user"))  # fmt: skip
    prelabel(prelabel_ws, "demo", label="RBC", workers=1)
    assert proposal_set(prelabel_ws) == {
        (b.image_id, b.label.name, *(round(v, 2) for v in b.xywh), round(b.score, 4)) for b in rbc
    }


def test_label_run_keeps_other_labels_proposals(prelabel_ws):
    prelabel(prelabel_ws, "demo", workers=1)
    full = proposal_set(prelabel_ws)
    prelabel(prelabel_ws, "demo", label="WBC", workers=1)
    assert proposal_set(prelabel_ws) == full  # WBC replaced by the same, others kept


@pytest.mark.parametrize("state", ["done", "empty", "approved"])
def test_done_and_empty_images_are_skipped(prelabel_ws, state):
    ids = image_ids(prelabel_ws)
    prelabel(prelabel_ws, "demo", workers=1)
    frozen = {b.id: b.xywh for b in boxes(prelabel_ws, image_id=ids[0])}
    with prelabel_ws.sessions.begin() as s:
        s.execute(update(Image).where(Image.id == ids[0]).values(state=state))
    job_id, summary = prelabel(prelabel_ws, "demo", workers=1)
    assert summary.skipped == 1 and summary.images == len(ids) - 1
    assert {b.id: b.xywh for b in boxes(prelabel_ws, image_id=ids[0])} == frozen
    assert job(prelabel_ws, job_id).total == len(ids) - 1


def test_exemplar_file_gives_same_proposals_as_exemplar_boxes(
    prelabel_ws, prelabel_exemplars, tmp_path
):
    prelabel(prelabel_ws, "demo", workers=1)
    from_boxes = proposal_set(prelabel_ws)
    ex_file = tmp_path / "ex.json"  # names relative to the dataset's images/
    ex_file.write_text(json.dumps(prelabel_exemplars), encoding="utf-8")
    job_id, _ = prelabel(prelabel_ws, "demo", exemplars=ex_file, workers=1)
    assert proposal_set(prelabel_ws) == from_boxes
    refs = job(prelabel_ws, job_id).params["exemplars"]
    assert refs[0]["image"] == "datasets/demo/images/" + prelabel_exemplars[0]["image"]


def test_no_exemplars_is_a_clear_error(demo_ws):
    with pytest.raises(PrelabelError, match="no exemplar boxes.*--exemplars"):
        prelabel(demo_ws, "demo", workers=1)
    with demo_ws.sessions() as s:
        assert s.scalar(select(Job.id)) is None  # nothing started, nothing half-written


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"image": "a.jpg"}', "expected a JSON list"),
        ("[]", "empty"),
        ('[{"image": "BloodImage_00094.jpg", "label": "RBC"}]', "entry 0: field 'box': missing"),
        ('[{"image": "BloodImage_00094.jpg", "box": [1, 2, 3], "label": "RBC"}]', "field 'box'"),
        ('[{"image": "nope.jpg", "box": [1, 2, 30, 30], "label": "RBC"}]', "nope.jpg not found"),
        (
            '[{"image": "BloodImage_00094.jpg", "box": [620, 2, 40, 40], "label": "RBC"}]',
            "entry 0: field 'box': .*outside",
        ),
        ('[{"image": "BloodImage_00094.jpg", "box": [1, 2, 30, 30], "label": ""}]', "'label'"),
    ],
)
def test_bad_exemplar_files(prelabel_ws, tmp_path, content, match):
    ex_file = tmp_path / "ex.json"
    ex_file.write_text(content, encoding="utf-8")
    before = proposal_set(prelabel_ws)
    with pytest.raises(ExemplarFileError, match=match) as info:
        prelabel(prelabel_ws, "demo", exemplars=ex_file, workers=1)
    assert str(ex_file) in str(info.value)
    assert proposal_set(prelabel_ws) == before


def test_cli_prints_summary_and_reports_errors(prelabel_ws):
    runner = CliRunner()
    args = ["prelabel", "--dataset", "demo", "--workers", "1", "-w", str(prelabel_ws.root)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    for word in ("images matched", "proposals RBC", "proposals WBC", "images/s"):
        assert word in result.output
    bad = runner.invoke(cli, ["prelabel", "--dataset", "nope", "-w", str(prelabel_ws.root)])
    assert bad.exit_code == 1 and "no dataset named 'nope'" in bad.output
    bad = runner.invoke(cli, [*args, "--label", "Nope"])
    assert bad.exit_code == 1 and "no exemplar boxes of label 'Nope'" in bad.output


def count_committed(ws, job_id: int) -> int:
    with ws.sessions() as s:
        return s.scalar(select(Job.done).where(Job.id == job_id)) or 0


def test_kill_and_resume_finishes_without_duplicates(full_prelabel_ws, tmp_path):
    ws = full_prelabel_ws
    labeler = Path(sys.executable).parent / "labeler"
    cmd = [str(labeler), "prelabel", "-d", "demo", "--workers", "1", "-q"]
    # The run SIGKILLs its own process group after 3 committed images (labeler.testhooks):
    # a crash at a known point, however fast or busy the machine is.
    env = {**os.environ, "LABELER_WORKSPACE": str(ws.root), STOP_AFTER_ENV: "3"}
    # A session of its own so the kill takes the worker processes too, like a crash.
    log = tmp_path / "prelabel.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=out, stderr=out)
    try:
        returncode = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert returncode == -signal.SIGKILL, log.read_text()
    total = len(image_ids(ws))
    with ws.sessions() as s:
        job_id = s.scalar(select(Job.id).order_by(Job.id.desc()))
    assert job(ws, job_id).status == "running" and count_committed(ws, job_id) <= 3 < total
    half = boxes(ws, status="proposed")
    assert 0 < len({b.image_id for b in half}) <= 3

    job2, summary = prelabel(ws, "demo", workers=2)
    assert job(ws, job_id).status == "failed" and "interrupted" in job(ws, job_id).error
    resumed = boxes(ws, status="proposed")
    assert {b.image_id for b in resumed} == set(image_ids(ws)) and summary.images == total
    assert {b.job_id for b in resumed} == {job2}
    for image_id in image_ids(ws):  # each object once: no two same-label boxes overlap much
        mine = [b for b in resumed if b.image_id == image_id]
        for label in {b.label_id for b in mine}:
            xywh = np.array([b.xywh for b in mine if b.label_id == label])
            ious = iou_matrix(xywh, xywh)
            np.fill_diagonal(ious, 0)
            assert ious.max() < 0.99
    once = proposal_set(ws)
    prelabel(ws, "demo", workers=2)
    assert proposal_set(ws) == once


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def test_a_killed_worker_process_stops_the_run_and_a_rerun_finishes(full_prelabel_ws):
    from multiprocessing import forkserver

    ws = full_prelabel_ws
    killed = []

    def kill_one_worker(_result) -> None:
        if not killed:  # pool workers are forked by the forkserver process
            pids = children(forkserver._forkserver._forkserver_pid)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    with pytest.raises(WorkerDied, match="worker process died.*run again"):
        prelabel(ws, "demo", workers=2, on_result=kill_one_worker)
    with ws.sessions() as s:
        first = s.scalar(select(Job).order_by(Job.id))
    assert first.status == "failed" and "WorkerDied" in first.error
    assert 0 < first.done < len(image_ids(ws))
    job2, summary = prelabel(ws, "demo", workers=2)
    assert summary.images == len(image_ids(ws)) and not summary.failed
    assert {b.job_id for b in boxes(ws, status="proposed")} == {job2}


def test_dask_local_cluster_gives_the_same_proposals_as_the_pool(prelabel_ws):
    from distributed import LocalCluster

    prelabel(prelabel_ws, "demo", workers=2)
    pooled = proposal_set(prelabel_ws)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:  # fmt: skip
        job_id, summary = prelabel(prelabel_ws, "demo", dask=cluster.scheduler_address)
    assert proposal_set(prelabel_ws) == pooled
    assert summary.images == len(PRELABEL_IMAGES)
    assert job(prelabel_ws, job_id).params["dask"] == cluster.scheduler_address


def test_label_filter_on_the_demo_exemplar_file(prelabel_ws):
    """The bundled exemplars.json names images relative to images/ (files on disk)."""
    prelabel(prelabel_ws, "demo", exemplars=DEMO / "exemplars.json", label="RBC", workers=1)
    assert {b.label.name for b in boxes(prelabel_ws, status="proposed")} == {"RBC"}
    with pytest.raises(ExemplarFileError, match="no exemplar has label 'Nope'.*RBC"):
        prelabel(prelabel_ws, "demo", exemplars=DEMO / "exemplars.json", label="Nope")


def test_exemplar_box_overhanging_the_edge_is_clipped(prelabel_ws):
    """The store allows boxes half a pixel past the edge; such an exemplar still works."""
    with prelabel_ws.sessions.begin() as s:
        image = s.scalar(select(Image).order_by(Image.id))
        rbc = label_by_name(image.dataset, "RBC")
        s.add(Box(image=image, label=rbc, x=-0.4, y=100.0, w=60.0, h=380.4,
                  status="accepted", source="user", is_exemplar=True))  # fmt: skip
    job_id, summary = prelabel(prelabel_ws, "demo", label="RBC", workers=1)
    refs = job(prelabel_ws, job_id).params["exemplars"]
    assert [r["box"] for r in refs][-1] == [-0.4, 100.0, 60.0, 380.4]
    assert summary.images == len(PRELABEL_IMAGES)


@pytest.mark.parametrize("paramstyle", ["qmark", "named", "other"])
def test_proposal_rows_read_back_the_same_for_every_driver_paramstyle(
    prelabel_ws, paramstyle, monkeypatch
):
    """``insert_boxes`` writes through the DB-API (qmark, named: both sqlite3 styles) or,
    for a paramstyle it has no placeholder for, through SQLAlchemy."""
    from sqlalchemy.orm import sessionmaker

    from labeler.matching import Proposal
    from labeler.prelabel import storage as prelabel_store
    from labeler.prelabel.execute import Result
    from labeler.prelabel.storage import store_result
    from labeler.store.db import make_engine

    engine = make_engine(prelabel_ws.database_url)
    if paramstyle == "other":
        monkeypatch.setattr(prelabel_store, "PLACEHOLDERS", {})
    else:
        engine.dialect.paramstyle = paramstyle  # what the driver would declare
        engine.dialect.positional = paramstyle == "qmark"
    with prelabel_ws.sessions() as s:
        image_id = image_ids(prelabel_ws)[1]
        labels = {lc.name: lc.id for lc in s.get(Image, image_id).dataset.labels}
    props = (Proposal((1.25, 2.5, 30.0, 40.0), "RBC", 0.75),
             Proposal((100.0, 50.0, 20.0, 22.0), "Platelets", 0.5))  # fmt: skip
    params = {name: {"version": "v", "exemplars": [{"label": name}]} for name in labels}
    with sessionmaker(engine).begin() as s:
        stored = store_result(s, Result(image_id, "x.jpg", props, 640, 480), job_id=None,
                              label_ids=labels, params=params, user="ann")  # fmt: skip
    engine.dispose()
    assert stored == list(props)
    got = sorted(boxes(prelabel_ws, image_id=image_id, status="proposed"), key=lambda b: b.x)
    assert [(b.label.name, b.xywh, b.score, b.params) for b in got] == [
        (p.label, p.box, p.score, params[p.label]) for p in props
    ]
    for b in got:
        assert (b.source, b.job_id, b.is_exemplar, b.version) == ("matcher", None, False, 1)
        assert b.created_by == b.updated_by == "ann" and b.created_at == b.updated_at
        assert abs(b.created_at.timestamp() - time.time()) < 3600  # a real, current time
    set_status(prelabel_ws, got[0].id, "accepted")  # optimistic versioning still works
    assert boxes(prelabel_ws, id=got[0].id)[0].version == 2


def test_prelabel_on_postgresql(pg_url, tmp_path, prelabel_exemplars):
    """The same run on PostgreSQL: driver-level inserts (psycopg, pyformat), the locking
    query, JSON params; twice, with no duplicates."""
    import shutil
    import uuid

    from labeler.store.queries import ensure_labels, get_or_create_dataset
    from labeler.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws", database_url=pg_url)
    name = f"pg{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared by the session
    images = ws.dataset_dir(name) / "images"
    images.mkdir(parents=True)
    with ws.sessions.begin() as s:
        ds = get_or_create_dataset(s, name)
        labels = {lc.name: lc for lc in ensure_labels(s, ds, ["RBC", "WBC", "Platelets"])}
        for i, file in enumerate(PRELABEL_IMAGES[:3] + ("BloodImage_00256.jpg",)):
            shutil.copyfile(DEMO / "images" / file, images / file)
            image = Image(dataset=ds, path=f"datasets/{name}/images/{file}", sha256=f"{i:064x}",
                          width=640, height=480, format="jpeg")  # fmt: skip
            s.add(image)
            for e in prelabel_exemplars:
                if e["image"] == file:
                    x, y, w, h = e["box"]
                    s.add(Box(image=image, label=labels[e["label"]], x=x, y=y, w=w, h=h,
                              status="accepted", is_exemplar=True))  # fmt: skip
    try:
        job1, first = prelabel(ws, name, workers=1)
        job2, _ = prelabel(ws, name, workers=1)
        with ws.sessions() as s:
            ids = set(s.scalars(select(Image.id).where(Image.path.like(f"datasets/{name}/%"))))
        again = [b for b in boxes(ws, status="proposed") if b.image_id in ids]
    finally:
        ws.engine.dispose()
    assert again and first.images == 4 and {b.job_id for b in again} == {job2}
    assert all(b.params["version"] == MATCHER_VERSION and b.created_by for b in again), again[
        0
    ].params
    assert sum(first.proposals.values()) == len(again)  # replaced, not duplicated
