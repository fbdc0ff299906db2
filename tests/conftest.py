"""Shared fixtures. Area-specific fixtures go in the sections below, one per area."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import DEMO, IN_CI, TEAM, TEAM_PASSWORD, postgres_bindir, postgres_cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI nothing may be skipped: a skip there means a missing tool, so fail loudly."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true forbids skips): {report.longrepr}"


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """The bundled demo dataset: ``images/`` and ``boxes.csv``."""
    return DEMO


# --- store ---


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL cluster (Debian's server binaries) on a Unix socket.

    Yields a SQLAlchemy URL. Skips outside CI when PostgreSQL is not installed; in CI
    (where scripts/test.d/postgres.sh installs it) a missing server fails instead.
    """
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL server binaries not installed (scripts/test installs them)")
    with postgres_cluster() as url:
        yield url


@pytest.fixture
def workspace(tmp_path):
    """A fresh, empty workspace (real git + DVC repo, real SQLite file) in ``tmp_path``."""
    from labeler.workspace import init_workspace

    return init_workspace(tmp_path / "ws")


# --- ingest ---


@pytest.fixture(scope="session")
def _demo_ws_template(tmp_path_factory) -> Path:
    """Built once per session: a workspace with ``datasets/demo/images`` ingested as ``demo``."""
    from labeler.ingest import ingest
    from labeler.workspace import init_workspace

    root = tmp_path_factory.mktemp("demo_ws_template") / "ws"
    ws = init_workspace(root)
    ingest(ws, DEMO / "images", dataset="demo", labels=("RBC", "WBC", "Platelets"),
           workers=1, progress=False)  # fmt: skip
    ws.engine.dispose()  # checkpoints the SQLite WAL so a plain copy is complete
    return root


@pytest.fixture
def demo_ws(_demo_ws_template, tmp_path):
    """A workspace of its own per test: dataset ``demo`` (24 images, state ``new``, no boxes)
    with labels RBC, WBC, Platelets (hotkeys 1-3). Add the demo's 566 boxes with
    ``labeler.ingest.load_demo_boxes(ws)`` (5 of them flagged ``is_exemplar``)."""
    import shutil

    from labeler.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(_demo_ws_template, root, symlinks=True)
    return Workspace.open(root)


@pytest.fixture(scope="session")
def _empty_ws_template(tmp_path_factory) -> Path:
    from labeler.workspace import init_workspace

    root = tmp_path_factory.mktemp("empty_ws_template") / "ws"
    init_workspace(root).engine.dispose()
    return root


@pytest.fixture
def empty_ws(_empty_ws_template, tmp_path):
    """Like ``workspace`` (fresh, no datasets) but copied from a template built once per
    session: ``init_workspace`` runs git and DVC, seconds per call on a loaded machine."""
    import shutil

    from labeler.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(_empty_ws_template, root, symlinks=True)
    return Workspace.open(root)


# --- teams (accounts) ---


def _copy_rows_to_postgresql(src, url: str) -> None:
    """The demo workspace's datasets, labels and images into a freshly reset PostgreSQL
    database (the cluster is shared by the session), sequences moved past the copied ids."""
    from sqlalchemy import insert, select, text

    from labeler.store import Base, make_engine, migrate
    from labeler.store.models import Dataset, Image, LabelClass

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        migrate(engine)
        with src.connect() as read, engine.begin() as write:
            for model in (Dataset, LabelClass, Image):
                table = model.__table__
                rows = [dict(r) for r in read.execute(select(table)).mappings()]
                write.execute(insert(table), rows)
                write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                   f"'id'), (SELECT max(id) FROM {table.name}))"))  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_ws(request, demo_ws):
    """``demo_ws`` (24 new images, labels RBC/WBC/Platelets) on SQLite, or the same rows in
    the throwaway PostgreSQL cluster (the workspace's config points at it)."""
    from labeler.workspace import CONFIG_DIR, CONFIG_FILE, Workspace

    if request.param == "sqlite":
        yield demo_ws
        return
    url = request.getfixturevalue("pg_url")
    _copy_rows_to_postgresql(demo_ws.engine, url)
    demo_ws.engine.dispose()
    cfg = demo_ws.root / CONFIG_DIR / CONFIG_FILE
    cfg.write_text(f"database_url = {json.dumps(url)}\n", encoding="utf-8")
    ws = Workspace.open(demo_ws.root)
    yield ws
    ws.engine.dispose()


@dataclass(frozen=True)
class Team:
    ws: object  # labeler.workspace.Workspace
    tokens: dict  # name -> API token

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def team(backend_ws) -> Team:
    """``backend_ws`` with four accounts (:data:`TEAM`: admin ada, reviewer rita, annotators
    ann and bob; password ``TEAM_PASSWORD.format(name=...)``) and an API token of each."""
    from labeler.accounts import add_user, create_token

    for name, role in TEAM.items():
        add_user(backend_ws, name=name, role=role, password=TEAM_PASSWORD.format(name=name))
    return Team(backend_ws, {name: create_token(backend_ws, name=name) for name in TEAM})


# --- version ---


@pytest.fixture
def git_env(tmp_path, monkeypatch):
    """git and DVC isolated from this machine: an empty HOME, no system or global git config
    (so no user identity), no DVC analytics."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def version_ws(git_env, tmp_path):
    """A workspace (real git + DVC) with dataset ``demo``: the first 6 demo images, all ``done``,
    with their accepted boxes from ``boxes.csv``; labels RBC, WBC, Platelets."""
    import csv
    import hashlib
    import shutil

    from labeler.store.models import Box, Image
    from labeler.store.queries import ensure_labels, get_or_create_dataset
    from labeler.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    names = sorted(p.name for p in (DEMO / "images").glob("*.jpg"))[:6]
    images_dir = ws.dataset_dir("demo") / "images"
    images_dir.mkdir(parents=True)
    with open(DEMO / "boxes.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["image"] in names]
    with ws.sessions.begin() as s:
        ds = get_or_create_dataset(s, "demo")
        labels = {lb.name: lb for lb in ensure_labels(s, ds, ["RBC", "WBC", "Platelets"])}
        for name in names:
            shutil.copyfile(DEMO / "images" / name, images_dir / name)
            digest = hashlib.sha256((images_dir / name).read_bytes()).hexdigest()
            image = Image(dataset_id=ds.id, path=f"datasets/demo/images/{name}", sha256=digest,
                          width=640, height=480, format="jpeg", state="done")  # fmt: skip
            s.add(image)
            for r in (r for r in rows if r["image"] == name):
                x, y = float(r["xmin"]), float(r["ymin"])
                w, h = float(r["xmax"]) - x, float(r["ymax"]) - y
                image.boxes.append(Box(label=labels[r["label"]], x=x, y=y, w=w, h=h,
                                       status="accepted", source="import"))  # fmt: skip
    return ws


# --- prelabel ---

# Few images and one exemplar per label keep prelabel tests to seconds.


@pytest.fixture
def prelabel_exemplars() -> list[dict]:
    """One exemplar per label from the demo's ``exemplars.json`` (RBC, WBC, Platelets)."""
    import json

    entries = json.loads((DEMO / "exemplars.json").read_text(encoding="utf-8"))
    return [entries[1], entries[3], entries[4]]


FORMATS_LABELS = ("RBC", "WBC", 'a&b <"c">')


@pytest.fixture
def formats_records():
    """A store-free ``DatasetRecord``: sub-folders, two images named ``c.jpg``, sub-pixel
    boxes (seeded), proposals from two model versions, a confirmed-empty and a new image,
    and a label name that needs XML escaping."""
    import random

    from labeler.formats.records import BoxRecord, DatasetRecord, ImageRecord

    rng = random.Random(5)
    layout = [("a.jpg", "done", 6), ("b.png", "done", 3), ("sub/c.jpg", "in_progress", 2),
              ("sub/deeper/d.jpg", "done", 4), ("other/c.jpg", "done", 1),
              ("empty.jpg", "empty", 0), ("new.jpg", "new", 0)]  # fmt: skip
    images = []
    for image_id, (path, state, n) in enumerate(layout, start=1):
        width, height = rng.choice([(640, 480), (1000, 750), (333, 517)])
        boxes = []
        for i in range(n + (2 if state != "empty" else 0)):
            w, h = rng.uniform(2, width / 3), rng.uniform(2, height / 3)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            if i < n:
                boxes.append(BoxRecord(FORMATS_LABELS[i % 3], x, y, w, h))
            else:
                version = ("labeler-tm-1", "other-model")[i % 2]
                score = round(rng.uniform(0.5, 1.0), 4)
                boxes.append(BoxRecord("RBC", x, y, w, h, "proposed", score, version))
        images.append(ImageRecord(path, width, height, state, tuple(boxes), image_id))
    colours = dict(zip(FORMATS_LABELS, ("#e6194b", "#3cb44b", "#4363d8"), strict=True))
    return DatasetRecord("cells", FORMATS_LABELS, tuple(images), colours)


@pytest.fixture
def formats_ws(demo_ws):
    """``demo_ws`` with the demo boxes loaded: the first 8 images ``done``, the 9th
    confirmed ``empty`` (boxes removed), a sub-pixel box on the first, and two undecided
    matcher proposals (score, params) on the 10th."""
    from sqlalchemy import delete, select

    from labeler.ingest import load_demo_boxes
    from labeler.store.models import Box, Image
    from labeler.store.queries import get_dataset, label_by_name

    load_demo_boxes(demo_ws)
    with demo_ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        images = s.scalars(select(Image).where(Image.dataset_id == ds.id).order_by(Image.path))
        images = list(images)
        for image in images[:8]:
            image.state = "done"
        images[8].state = "empty"
        s.execute(delete(Box).where(Box.image_id == images[8].id))
        rbc = label_by_name(ds, "RBC")
        s.add(Box(image=images[0], label=rbc, x=10.25, y=20.125, w=33.3, h=41.7,
                  status="accepted", source="user", created_by="test"))  # fmt: skip
        params = {"version": "labeler-tm-1", "min_score": 0.5}
        for i, score in enumerate((0.91, 0.62)):
            s.add(Box(image=images[9], label=rbc, x=100.5 + 150 * i, y=200.0, w=60.0, h=55.5,
                      status="proposed", source="matcher", score=score, params=params,
                      created_by="test"))  # fmt: skip
    return demo_ws


@pytest.fixture
def check_ws(demo_ws):
    """``demo_ws`` with the demo's 566 boxes accepted and all 24 images marked done:
    a dataset the completeness check should find ready (tests break it on purpose)."""
    from sqlalchemy import update

    from labeler.ingest.demo import load_demo_boxes
    from labeler.store.models import Image

    load_demo_boxes(demo_ws)
    with demo_ws.sessions.begin() as s:
        s.execute(update(Image).values(state="done"))
    return demo_ws


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    """Store and learning tests: sessions on a freshly migrated database of each backend
    the store must support."""
    from sqlalchemy import text

    from labeler.store import Base, make_engine, migrate, session_factory

    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    else:
        engine = make_engine(request.getfixturevalue("pg_url"))
        with engine.begin() as conn:  # the cluster is shared by the session: start clean
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()
