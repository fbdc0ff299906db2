"""``labeler check``: exit codes, --json schema, options and errors, through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from labeler.cli import cli
from labeler.commands.check import EXIT_BLOCKED
from labeler.completeness import CHECKS
from labeler.store.models import Box, Dataset, Image


def run(ws, *args: str):
    return CliRunner().invoke(cli, ["check", "--workspace", str(ws.root), *args])


def _break(ws, what: str) -> None:
    with ws.sessions.begin() as s:
        if what == "state":
            s.execute(update(Image).where(Image.id == 1).values(state="in_progress"))
        elif what == "proposal":
            s.execute(update(Box).where(Box.id == 1).values(status="proposed"))
        elif what == "invalid":
            s.execute(update(Box).where(Box.id == 1).values(w=0.5))
        elif what == "missing":
            ws.abspath(s.scalar(select(Image.path).where(Image.id == 1))).unlink()
        elif what == "tiny":  # a warning only
            s.execute(update(Box).where(Box.id == 1).values(w=3.0))


@pytest.mark.parametrize(
    ("broken", "args", "code"),
    [
        (None, ["--strict"], 0),
        ("state", ["--strict"], EXIT_BLOCKED),
        ("proposal", ["--strict"], EXIT_BLOCKED),
        ("invalid", ["--strict"], EXIT_BLOCKED),
        ("missing", ["--strict"], 0),  # files are only read with --verify-files
        ("missing", ["--strict", "--verify-files"], EXIT_BLOCKED),
        ("tiny", ["--strict"], 0),
        ("state", [], 0),  # without --strict the report is the result
        ("state", ["--strict", "--dataset", "demo", "--json"], EXIT_BLOCKED),
    ],
)
def test_strict_exit_codes(check_ws, broken, args, code):
    if broken:
        _break(check_ws, broken)
    result = run(check_ws, *args)
    assert result.exit_code == code, result.output


def test_text_report_lists_items_and_verdict(check_ws):
    _break(check_ws, "invalid")
    result = run(check_ws, "--dataset", "demo")
    assert result.exit_code == 0
    assert "boxes under 2 px wide or high: 1" in result.output
    assert "box 1" in result.output and "NOT READY for release" in result.output


def test_json_schema(check_ws):
    _break(check_ws, "proposal")
    result = run(check_ws, "--json", "--dataset", "demo")
    doc = json.loads(result.output)
    assert set(doc) == {"schema", "blocking", "datasets"} and doc["schema"] == "labeler-check/1"
    (report,) = doc["datasets"]
    assert doc["blocking"] is report["blocking"] is True
    assert report["blockers"] == ["1 undecided proposals"]
    assert list(report["checks"]) == list(CHECKS)
    assert report["checks"]["proposals_undecided"]["items"][0]["box_id"] == 1
    assert report["settings"]["limit"] is None  # --json lists every item by default


def test_json_lists_everything_unless_limited(check_ws):
    with check_ws.sessions.begin() as s:
        s.execute(update(Image).values(state="new"))
    every = json.loads(run(check_ws, "--json").output)["datasets"][0]["checks"]["images_new"]
    assert (every["count"], len(every["items"]), every["truncated"]) == (24, 24, False)
    some = json.loads(run(check_ws, "--json", "--limit", "3").output)["datasets"][0]
    assert len(some["checks"]["images_new"]["items"]) == 3
    assert some["checks"]["images_new"]["truncated"] is True


def test_thresholds_reach_the_report(check_ws):
    result = run(check_ws, "--json", "--min-box-size", "500", "--min-per-label", "30")
    report = json.loads(result.output)["datasets"][0]
    assert report["settings"]["min_box_size"] == 500.0
    assert report["checks"]["boxes_tiny"]["count"] == 566
    assert [lab["name"] for lab in report["labels"] if lab["below_minimum"]] == [
        "WBC",
        "Platelets",
    ]


def test_every_dataset_by_default(check_ws):
    with check_ws.sessions.begin() as s:
        s.add(Dataset(name="zzz"))
    doc = json.loads(run(check_ws, "--json").output)
    assert [d["dataset"] for d in doc["datasets"]] == ["demo", "zzz"]
    text = run(check_ws).output
    assert "Dataset 'demo'" in text and "Dataset 'zzz'" in text


def test_a_workspace_without_datasets(empty_ws):
    result = run(empty_ws)
    assert result.exit_code == 0 and "No datasets yet" in result.output
    assert json.loads(run(empty_ws, "--json").output)["datasets"] == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--dataset", "nope"], 1, "no dataset named 'nope' (datasets: demo)"),
        (["--min-box-size", "-1"], 2, "--min-box-size"),
        (["--min-per-label", "x"], 2, "--min-per-label"),
        (["--limit", "-5"], 2, "--limit"),
    ],
)
def test_errors_name_the_problem(check_ws, args, code, message):
    result = run(check_ws, *args)
    assert result.exit_code == code
    assert message in result.output


def test_no_workspace_is_an_error(tmp_path):
    result = CliRunner().invoke(cli, ["check", "--workspace", str(tmp_path)])
    assert result.exit_code == 1 and "no Labeler workspace" in result.output
