"""labeler.prelabel.execute: while a new pool starts, the parent matches chunks itself; every
task still comes back once, with the proposals a worker would have sent."""

from __future__ import annotations

import json
from concurrent.futures import Future
from contextlib import contextmanager

import pytest
from helpers import DEMO, PRELABEL_IMAGES

from labeler.imageio import read_image
from labeler.prelabel import execute
from labeler.prelabel.execute import ExemplarBank, Task
from labeler.prelabel.exemplars import exemplar_crop


@pytest.fixture(scope="module")
def bank() -> ExemplarBank:
    entries = json.loads((DEMO / "exemplars.json").read_text())
    crops = [
        exemplar_crop(read_image(DEMO / "images" / e["image"]), tuple(e["box"]), e["label"], ref=e)
        for e in entries[:3]
    ]
    return ExemplarBank(tuple(crops), min_score=0.5)


class _SlowToStart(Future):
    """A pool's future: its result is there, but it reads as not done the first few times
    (the workers are still importing)."""

    def __init__(self, results, not_done: int) -> None:
        super().__init__()
        self.set_result(results)
        self._not_done = not_done

    def done(self) -> bool:
        self._not_done -= 1
        return self._not_done < 0


def _tasks() -> list[Task]:
    return [Task(i, str(DEMO / "images" / name)) for i, name in enumerate(PRELABEL_IMAGES * 3)]


def test_parent_helps_until_the_pool_answers(bank, monkeypatch):
    submitted: list[list[Task]] = []

    @contextmanager
    def fake_submitter(bank_, workers, dask):
        def submit(chunk):
            submitted.append(chunk)
            return _SlowToStart([execute._propose(bank_, t) for t in chunk], not_done=4)

        yield 2, submit

    monkeypatch.setattr(execute, "_submitter", fake_submitter)
    tasks = _tasks()
    results = list(execute.run_tasks(bank, tasks, workers=1, chunk=2))
    by_pool = {t.id for chunk in submitted for t in chunk}
    assert sorted(r.id for r in results) == [t.id for t in tasks]  # each task once
    assert 0 < len(by_pool) < len(tasks)  # the parent matched some, the pool the rest
    for r in results:
        want = execute._propose(bank, tasks[r.id])
        assert (r.proposals, r.width, r.height, r.error) == (
            want.proposals,
            want.width,
            want.height,
            want.error,
        )


def test_dask_runs_get_no_help(bank, monkeypatch):
    @contextmanager
    def fake_submitter(bank_, workers, dask):
        yield 2, lambda chunk: _SlowToStart(execute.propose_many(bank_, chunk), not_done=4)

    monkeypatch.setattr(execute, "_submitter", fake_submitter)
    helped = []
    monkeypatch.setattr(execute, "_propose", lambda b, t: helped.append(t) or None)
    monkeypatch.setattr(execute, "propose_many", lambda b, ts: [t.id for t in ts])
    results = list(execute.run_tasks(bank, _tasks(), dask="tcp://nowhere:1", chunk=2))
    assert not helped and sorted(results) == list(range(len(_tasks())))
