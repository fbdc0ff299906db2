"""labeler.workspace and ``labeler init``: real git, DVC and databases in tmp_path."""

from __future__ import annotations

import subprocess
import tomllib

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from labeler.cli import cli
from labeler.commands._common import friendly_errors, one_line, pass_workspace
from labeler.store.queries import NotFound
from labeler.workspace import Workspace, WorkspaceError, init_workspace


def git(cwd, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_init_makes_git_dvc_datasets_and_ignored_config(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    root = ws.root
    assert (root / ".git").is_dir() and (root / ".dvc").is_dir() and (root / "datasets").is_dir()
    assert (root / ".labeler" / "labeler.db").is_file()
    assert ws.config["database_url"] == "sqlite:///.labeler/labeler.db"
    assert ws.config["max_pixels"] == 100_000_000
    assert git(root, "check-ignore", ".labeler/labeler.db") == ".labeler/labeler.db"
    assert {"dataset", "image", "box", "label_class", "job"} <= set(
        inspect(ws.engine).get_table_names()
    )


def test_init_reuses_an_enclosing_git_repo(tmp_path):
    outer = tmp_path / "project"
    outer.mkdir()
    git(outer, "init", "-q")
    ws = init_workspace(outer / "labels")
    assert not (ws.root / ".git").exists()
    assert git(ws.root, "rev-parse", "--show-toplevel") == str(outer.resolve())
    assert (ws.root / ".dvc").is_dir()  # dvc init --subdir


def test_init_twice_changes_nothing(empty_ws):
    ws = empty_ws
    before = {p: p.read_bytes() for p in [ws.root / ".gitignore", ws.root / ".labeler/config.toml"]}
    again = init_workspace(ws.root)
    assert again.root == ws.root
    assert {p: p.read_bytes() for p in before} == before
    assert (ws.root / ".gitignore").read_text().count("/.labeler/") == 1


def test_init_refuses_to_switch_database_of_existing_workspace(empty_ws, tmp_path):
    ws = empty_ws
    with pytest.raises(WorkspaceError, match="already a workspace using database"):
        init_workspace(ws.root, database_url=f"sqlite:///{tmp_path}/other.db")
    init_workspace(ws.root, database_url="sqlite:///.labeler/labeler.db")  # same URL: fine


@pytest.mark.parametrize(
    "url, needle",
    [
        ("nosuchdialect://x/y", "nosuchdialect"),
        ("sqlite:////nonexistent-dir-for-labeler/x.db", "unable to open database file"),
    ],
)
def test_init_with_unusable_database_writes_no_config(tmp_path, url, needle):
    with pytest.raises(WorkspaceError, match=needle):
        init_workspace(tmp_path / "ws", database_url=url)
    assert not (tmp_path / "ws" / ".labeler" / "config.toml").exists()
    assert not (tmp_path / "ws" / ".git").exists()  # failed before touching git or DVC
    with pytest.raises(WorkspaceError, match="not a Labeler workspace"):
        Workspace.open(tmp_path / "ws")


def test_database_url_is_written_as_valid_toml(tmp_path):
    db = tmp_path / "it's \\ odd" / "x.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    ws = init_workspace(tmp_path / "ws", database_url=url)
    cfg = tomllib.loads((ws.root / ".labeler/config.toml").read_text())
    assert cfg["database_url"] == url
    assert db.is_file() and not (ws.root / ".labeler" / "labeler.db").exists()


def test_init_with_postgresql_url(tmp_path, pg_url):
    ws = init_workspace(tmp_path / "ws", database_url=pg_url)
    assert make_url(Workspace.open(ws.root).database_url) == make_url(pg_url)
    assert "box" in inspect(ws.engine).get_table_names()
    assert not (ws.root / ".labeler" / "labeler.db").exists()
    ws.engine.dispose()


def test_find_searches_parents_and_environment(empty_ws, tmp_path, monkeypatch):
    ws = empty_ws
    deep = ws.root / "datasets" / "a" / "b"
    deep.mkdir(parents=True)
    assert Workspace.find(deep).root == ws.root
    monkeypatch.setenv("LABELER_WORKSPACE", str(deep))
    assert Workspace.find().root == ws.root
    monkeypatch.setenv("LABELER_WORKSPACE", str(tmp_path))
    with pytest.raises(WorkspaceError, match="no Labeler workspace"):
        Workspace.find()


def test_broken_config_is_a_workspace_error(empty_ws):
    ws = empty_ws
    (ws.root / ".labeler/config.toml").write_text("database_url = [unclosed\n")
    with pytest.raises(WorkspaceError, match="invalid TOML"):
        Workspace.open(ws.root)


# --- the CLI ---


def test_cli_init_default_dir_and_rerun(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["init"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Initialised Labeler workspace")
    second = runner.invoke(cli, ["init", str(tmp_path)])
    assert second.exit_code == 0 and second.output.startswith("Already a Labeler workspace")


def test_cli_init_postgresql_masks_the_password(tmp_path, pg_url):
    url = pg_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "ws"), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg://postgres:***@" in result.output
    assert "s3cret" not in result.output
    assert "s3cret" in (tmp_path / "ws/.labeler/config.toml").read_text()


def test_cli_init_bad_url_is_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "ws"), "--database-url", "bogus://"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot use database bogus://")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


# --- labeler.commands._common ---


@click.command()
@click.option("--fail", type=click.Choice(["none", "notfound", "value", "bug", "keyerror"]))
@pass_workspace
def probe(ws, fail):
    if fail == "notfound":
        raise NotFound("no dataset named 'x' (datasets: none)")
    if fail == "value":
        raise ValueError("bad input\nsecond line")
    if fail == "bug":
        raise ZeroDivisionError("a bug")
    if fail == "keyerror":
        raise KeyError("a bug too")
    click.echo(f"ws={ws.root}")


@pytest.mark.parametrize(
    "fail, code, output",
    [
        ("none", 0, "ws="),
        ("notfound", 1, "Error: no dataset named 'x' (datasets: none)\n"),
        ("value", 1, "Error: bad input\n"),
    ],
)
def test_pass_workspace_and_friendly_errors(empty_ws, fail, code, output):
    result = CliRunner().invoke(probe, ["-w", str(empty_ws.root), "--fail", fail])
    assert result.exit_code == code
    assert result.output.startswith(output)
    if fail == "none":
        assert result.output.strip() == f"ws={empty_ws.root}"


def test_pass_workspace_without_workspace_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LABELER_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(probe, [])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no Labeler workspace at")


@pytest.mark.parametrize("fail, error", [("bug", ZeroDivisionError), ("keyerror", KeyError)])
def test_bugs_keep_their_traceback(empty_ws, fail, error):
    result = CliRunner().invoke(probe, ["-w", str(empty_ws.root), "--fail", fail])
    assert isinstance(result.exception, error)


def test_friendly_errors_passes_results_through():
    assert friendly_errors(lambda x: x + 1)(1) == 2
    assert one_line(ValueError("a\nb")) == "a" and one_line(ValueError()) == "ValueError"
