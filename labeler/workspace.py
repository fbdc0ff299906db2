"""A workspace: a git (+DVC) repo holding ``datasets/`` and ``.labeler/`` (config + database).

``labeler init DIR`` makes one; every other command finds it from ``--workspace``,
``$LABELER_WORKSPACE`` or the current directory and its parents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from labeler.store.db import make_engine, migrate, session_factory

CONFIG_DIR = ".labeler"
CONFIG_FILE = "config.toml"
DEFAULT_DB_URL = "sqlite:///.labeler/labeler.db"
DEFAULTS = {"database_url": DEFAULT_DB_URL, "max_pixels": 100_000_000, "user": None}


class WorkspaceError(RuntimeError):
    """No workspace where one was expected, or a broken one."""


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: dict = field(default_factory=dict)

    @classmethod
    def open(cls, root: str | os.PathLike) -> Workspace:
        root = Path(root).resolve()
        cfg_path = root / CONFIG_DIR / CONFIG_FILE
        if not cfg_path.is_file():
            raise WorkspaceError(
                f"{root} is not a Labeler workspace (no {cfg_path}); run `labeler init`"
            )
        try:
            config = {**DEFAULTS, **tomllib.loads(cfg_path.read_text(encoding="utf-8"))}
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{cfg_path}: invalid TOML: {exc}") from exc
        return cls(root=root, config=config)

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Workspace:
        """The workspace at ``start`` (default: $LABELER_WORKSPACE or cwd) or its nearest parent."""
        start = Path(start or os.environ.get("LABELER_WORKSPACE") or Path.cwd()).resolve()
        for candidate in (start, *start.parents):
            if (candidate / CONFIG_DIR / CONFIG_FILE).is_file():
                return cls.open(candidate)
        raise WorkspaceError(f"no Labeler workspace at {start} or above it; run `labeler init`")

    @property
    def database_url(self) -> str:
        """The configured URL; a relative SQLite path is taken relative to the workspace root."""
        url = make_url(self.config["database_url"])
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            db = Path(url.database)
            if not db.is_absolute():
                url = url.set(database=str(self.root / db))
        return url.render_as_string(hide_password=False)

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.database_url)
        migrate(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @property
    def user(self) -> str:
        return self.config.get("user") or os.environ.get("LABELER_USER") or _os_user()

    def dataset_dir(self, name: str) -> Path:
        return self.root / "datasets" / name

    def abspath(self, rel: str) -> Path:
        """Absolute path of a workspace-relative POSIX path stored in the database."""
        return self.root / Path(*rel.split("/"))


def _os_user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "unknown")


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        # DVC prints its errors on stdout, git on stderr: show whichever has the reason.
        reason = (proc.stderr.strip() or proc.stdout.strip()).replace("\n", " ")
        raise WorkspaceError(f"`{' '.join(map(str, args))}` failed in {cwd}: {reason}")
    return proc.stdout.strip()


def git_toplevel(path: Path) -> Path | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True
    )
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None


def _safe(url: str) -> str:
    """A URL fit for messages: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: show it as given, it holds no recognisable password
        return url


def init_workspace(root: str | os.PathLike, *, database_url: str | None = None) -> Workspace:
    """Make ``root`` a workspace; safe to run again on an existing one (it changes nothing)."""
    root = Path(root).resolve()
    cfg_dir = root / CONFIG_DIR
    cfg_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = cfg_dir / CONFIG_FILE
    url = database_url or DEFAULT_DB_URL
    if cfg_path.exists():
        current = Workspace.open(root).config["database_url"]
        if database_url is not None and database_url != current:
            raise WorkspaceError(
                f"{root} is already a workspace using database {_safe(current)}; "
                f"edit {cfg_path} to change it"
            )
    else:
        # Reach and migrate the database first: a typo in the URL must fail before git
        # and DVC run, and never leave a config that every later command fails to open.
        probe = Workspace(root=root, config={**DEFAULTS, "database_url": url})
        try:
            probe.engine.dispose()
        except Exception as exc:  # driver missing, server down, bad URL: all the user's to fix
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise WorkspaceError(f"cannot use database {_safe(url)}: {first}") from exc
    top = git_toplevel(root)
    if top is None:
        _run(["git", "init", "-q"], root)
        top = root
    if not (root / ".dvc").is_dir():
        # DVC from Labeler's own environment, not whatever `dvc` is on PATH.
        args = [sys.executable, "-m", "dvc", "init", "-q"]
        _run(args + ([] if top == root else ["--subdir"]), root)
        # `dvc config core.analytics false` would cost a second DVC start-up (seconds);
        # a fresh .dvc/config is empty, so write the same INI section directly.
        with open(root / ".dvc" / "config", "a", encoding="utf-8") as cfg:
            cfg.write("[core]\n    analytics = false\n")
    (root / "datasets").mkdir(exist_ok=True)
    if not cfg_path.exists():
        cfg_path.write_text(
            f"# Labeler workspace configuration\n"
            f"database_url = {json.dumps(url)}\n"  # a JSON string is a valid TOML string
            f"# Images over this many pixels are refused at ingest (decompression bombs).\n"
            f"max_pixels = {DEFAULTS['max_pixels']}\n",
            encoding="utf-8",
        )
    gitignore = root / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if f"/{CONFIG_DIR}/" not in lines:
        gitignore.write_text("\n".join([*lines, f"/{CONFIG_DIR}/"]) + "\n", encoding="utf-8")
    ws = Workspace.open(root)
    ws.engine  # noqa: B018 - creates the database and runs the migrations now
    return ws
