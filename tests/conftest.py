"""Shared fixtures. Area-specific fixtures go in the sections below, one per area."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "datasets" / "demo"
SHARED_BLOOD = REPO.parent / "shared" / "datasets" / "blood-cells"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL cluster (Debian's server binaries) on a Unix socket.

    Yields a SQLAlchemy URL. Skips outside CI when PostgreSQL is not installed; in CI
    (where scripts/test.d/postgres.sh installs it) a missing server fails instead.
    """
    import glob
    import shutil
    import subprocess
    import tempfile

    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        pytest.skip("PostgreSQL server binaries not installed (scripts/test installs them)")
    bindir = Path(initdbs[-1]).parent
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="labeler-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    subprocess.run([*run_as, bindir / "initdb", "-A", "trust", "-U", "postgres", "-D", data],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses='' -c fsync=off"
    # -l: the server must not inherit our pipes, or run() waits for it to exit.
    subprocess.run([*run_as, bindir / "pg_ctl", "-D", data, "-l", base / "log", "-o", opts,
                    "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        createdb = [bindir / "createdb", "-h", base, "-p", str(port), "-U", "postgres"]
        subprocess.run([*run_as, *createdb, "labeler_test"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/labeler_test?host={base}&port={port}"
    finally:
        subprocess.run([*run_as, bindir / "pg_ctl", "-D", data, "-m", "fast", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


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
PRELABEL_IMAGES = (
    "BloodImage_00094.jpg",
    "BloodImage_00171.jpg",
    "BloodImage_00182.jpg",
    "BloodImage_00197.jpg",
    "BloodImage_00256.jpg",
)


@pytest.fixture
def prelabel_exemplars() -> list[dict]:
    """One exemplar per label from the demo's ``exemplars.json`` (RBC, WBC, Platelets)."""
    import json

    entries = json.loads((DEMO / "exemplars.json").read_text(encoding="utf-8"))
    return [entries[1], entries[3], entries[4]]


def _store_exemplars(ws, entries: list[dict], keep: tuple[str, ...] | None) -> None:
    """Store ``entries`` as accepted exemplar boxes; drop images not in ``keep`` (if given)."""
    from sqlalchemy import delete, select

    from labeler.store.models import Box, Image
    from labeler.store.queries import get_dataset, label_by_name

    with ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        prefix = f"{ds.images_dir}/"
        if keep is not None:
            paths = [prefix + name for name in keep]
            s.execute(delete(Image).where(Image.dataset_id == ds.id, Image.path.not_in(paths)))
        for entry in entries:
            image = s.scalar(select(Image).where(Image.path == prefix + entry["image"]))
            x, y, w, h = entry["box"]
            s.add(
                Box(
                    image=image, label=label_by_name(ds, entry["label"]), x=x, y=y, w=w, h=h,
                    status="accepted", source="user", is_exemplar=True, created_by="test",
                )
            )  # fmt: skip


@pytest.fixture
def prelabel_ws(demo_ws, prelabel_exemplars):
    """``demo_ws`` cut down to :data:`PRELABEL_IMAGES` (the files stay on disk), with the
    three ``prelabel_exemplars`` stored as accepted boxes flagged ``is_exemplar``."""
    _store_exemplars(demo_ws, prelabel_exemplars, PRELABEL_IMAGES)
    return demo_ws


@pytest.fixture
def full_prelabel_ws(demo_ws, prelabel_exemplars):
    """All 24 demo images with the three ``prelabel_exemplars`` as exemplar boxes."""
    _store_exemplars(demo_ws, prelabel_exemplars, None)
    return demo_ws


@pytest.fixture
def batch_dir(tmp_path, prelabel_exemplars):
    """A folder for ``scripts/prelabel.py``: ``images/`` with three demo images (one in
    ``sub/``) and ``ex.json`` holding ``prelabel_exemplars`` (names relative to images/)."""
    import json
    import shutil

    images = tmp_path / "batch" / "images"
    (images / "sub").mkdir(parents=True)
    for name, dest in [("BloodImage_00094.jpg", "BloodImage_00094.jpg"),
                       ("BloodImage_00197.jpg", "BloodImage_00197.jpg"),
                       ("BloodImage_00256.jpg", "sub/BloodImage_00256.jpg")]:  # fmt: skip
        shutil.copyfile(DEMO / "images" / name, images / dest)
    entries = [dict(e) for e in prelabel_exemplars]
    entries[0]["image"] = "sub/" + entries[0]["image"]
    (tmp_path / "batch" / "ex.json").write_text(json.dumps(entries), encoding="utf-8")
    return tmp_path / "batch"


# --- browser ---

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts"
TIMEOUT_MS = 20_000  # generous: CI machines are slow and the matcher shares their cores


class AnnotatorPage:
    """The annotator page as tests see it: its public ``data-*`` state, canvas coordinates in
    image pixels, and the same JSON API a second browser tab would use."""

    def __init__(self, page, url: str, ws) -> None:
        self.page = page
        self.url = url
        self.ws = ws
        self._opener = None
        self._token = ""

    def open(self, image_id: int) -> None:
        self.page.goto(f"{self.url}/images/{image_id}")
        self.wait_ready()

    def wait_ready(self) -> None:
        self.page.wait_for_selector("#annotator[data-ready='1']")

    def data(self, name: str) -> str:
        return self.page.get_attribute("#annotator", f"data-{name}") or ""

    def num(self, name: str) -> float:
        return float(self.data(name))

    def wait_data(self, name: str, value) -> None:
        # Not wait_for_function: the page's CSP (no 'unsafe-eval') rightly refuses it.
        from playwright.sync_api import expect

        root = self.page.locator("#annotator")
        expect(root).to_have_attribute(f"data-{name}", str(value), timeout=TIMEOUT_MS)

    def wait_until(self, name: str, test, *, timeout: float = TIMEOUT_MS / 1000) -> str:
        """Poll ``data-<name>`` until ``test(value)`` holds; return the value."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            value = self.data(name)
            if test(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"data-{name} is still {value!r} after {timeout} s")
            self.page.wait_for_timeout(50)

    def wait_saved(self) -> None:
        self.wait_data("save-state", "saved")

    def _view(self) -> tuple[float, float, float]:
        """Page coordinates of the image's origin, and the scale."""
        box = self.page.locator("#annotator-canvas").bounding_box()
        # One read of all three: a frame may publish a new view between separate reads.
        scale, ox, oy = map(
            float,
            self.page.locator("#annotator").evaluate(
                "el => [el.dataset.scale, el.dataset.offsetX, el.dataset.offsetY]"
            ),
        )
        return box["x"] + ox, box["y"] + oy, scale

    def screen(self, x: float, y: float) -> tuple[float, float]:
        """Page coordinates of image pixel ``(x, y)``."""
        x0, y0, scale = self._view()
        return x0 + x * scale, y0 + y * scale

    def image_at(self, px: float, py: float) -> tuple[float, float]:
        """Image pixel under page coordinates ``(px, py)``."""
        x0, y0, scale = self._view()
        return (px - x0) / scale, (py - y0) / scale

    def drag(self, start, end, *, button: str = "left") -> None:
        mouse = self.page.mouse
        mouse.move(*self.screen(*start))
        mouse.down(button=button)
        mouse.move(*self.screen(*end), steps=6)
        mouse.up(button=button)

    def draw(self, x: float, y: float, w: float, h: float) -> None:
        self.drag((x, y), (x + w, y + h))

    def image_id(self, name: str) -> int:
        from sqlalchemy import select

        from labeler.store.models import Image

        with self.ws.sessions() as s:
            return s.scalar(select(Image.id).where(Image.path.endswith("/" + name)))

    def db_boxes(self, image_id: int, status: str | None = None) -> list[tuple]:
        """``(id, label, x, y, w, h, status)`` of the image's boxes, straight from the database."""
        from sqlalchemy import select

        from labeler.store.models import Box

        with self.ws.sessions() as s:
            q = select(Box).where(Box.image_id == image_id).order_by(Box.id)
            if status:
                q = q.where(Box.status == status)
            return [(b.id, b.label.name, b.x, b.y, b.w, b.h, b.status) for b in s.scalars(q)]

    def api(self, method: str, path: str, body=None):
        """A second client with its own session (like another tab in another browser)."""
        import http.cookiejar
        import json
        import urllib.request

        if self._opener is None:
            jar = http.cookiejar.CookieJar()
            self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            with self._opener.open(f"{self.url}/api/v1/session") as resp:
                self._token = json.load(resp)["csrf_token"]
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-CSRF-Token", self._token)
        with self._opener.open(req) as resp:
            return json.load(resp)


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium driven by Playwright (``scripts/test`` apt-installs it)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test, which installs Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(demo_ws):
    """``create_app`` over ``demo_ws`` behind a real threaded WSGI server on a free port."""
    import threading
    from types import SimpleNamespace

    from werkzeug.serving import make_server

    from labeler.web import create_app

    app = create_app({"WORKSPACE": demo_ws, "SECRET_KEY": "browser-tests-" + "k" * 32})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", app=app, ws=demo_ws)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    app.extensions["labeler.jobs"].stop()
    demo_ws.engine.dispose()


@pytest.fixture
def annotator(chromium, live_server, request):
    """A fresh browser context on the live server. The page is screenshotted into
    ``test-artifacts/`` at the end; an uncaught page error or a dialog fails the test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_dialog(dialog) -> None:  # alert(1) from an injected label would land here
        errors.append(f"unexpected dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield AnnotatorPage(page, live_server.url, live_server.ws)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    finally:
        context.close()
    assert not errors, f"errors in the page: {errors}"


# --- web ---


@pytest.fixture
def web_app(demo_ws):
    """The Flask app on ``demo_ws`` (24 images, labels RBC/WBC/Platelets, no boxes)."""
    from labeler.web import create_app

    app = create_app({"WORKSPACE": demo_ws, "TESTING": True})
    yield app
    app.extensions["labeler.jobs"].stop()
    demo_ws.engine.dispose()


@pytest.fixture
def api(web_app):
    """A test client with this session's CSRF token sent on every request."""
    client = web_app.test_client()
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    client.environ_base["HTTP_X_CSRF_TOKEN"] = token
    return client


# --- formats ---

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
def ls_convert(tmp_path):
    """``ls_convert(records, fmt) -> Path``: our Label Studio export of ``records`` run
    through label-studio-sdk's own ``Converter`` (``coco``, ``yolo`` or ``voc``); returns
    the converter's output folder."""
    from label_studio_sdk.converter import Converter

    from labeler.formats import labelstudio

    def convert(records, fmt):
        src = tmp_path / "ls-export"
        labelstudio.export(records, src)
        out = tmp_path / f"ls-{fmt}"
        conv = Converter(config=str(src / labelstudio.CONFIG_FILE), project_dir=str(tmp_path),
                         download_resources=False)  # fmt: skip
        getattr(conv, f"convert_to_{fmt}")(str(src / labelstudio.TASKS_FILE), str(out),
                                           is_dir=False)  # fmt: skip
        return out

    return convert


LABEL_STUDIO_START_TIMEOUT = float(os.environ.get("LABEL_STUDIO_START_TIMEOUT", "600"))


@pytest.fixture(scope="module")
def labelstudio_server(tmp_path_factory):
    """A real Label Studio (``$LABEL_STUDIO_BIN``, installed by scripts/test.d/labelstudio.sh)
    on 127.0.0.1, data in a tmp folder, analytics and update checks off, serving local files
    under ``document_root`` (pytest's base temp folder: every tmp_path is inside it).
    Yields ``SimpleNamespace(url, token, document_root)``.

    Its first start runs every migration: ~30 s on an idle machine, minutes on a busy one."""
    import secrets
    import signal
    import socket
    import subprocess
    import time
    import urllib.request
    from types import SimpleNamespace

    binary = Path(os.environ.get("LABEL_STUDIO_BIN", REPO / ".venv-labelstudio/bin/label-studio"))
    if not binary.is_file():
        msg = f"Label Studio not installed at {binary} (scripts/test.d/labelstudio.sh installs it)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    base = tmp_path_factory.mktemp("labelstudio")
    root = tmp_path_factory.getbasetemp()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(20)
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(base / "data"),
           "COLLECT_ANALYTICS": "false", "LATEST_VERSION_CHECK": "false", "SENTRY_DSN": "",
           "FRONTEND_SENTRY_DSN": "", "LOCAL_FILES_SERVING_ENABLED": "true",
           "LOCAL_FILES_DOCUMENT_ROOT": str(root), "DJANGO_DB": "sqlite"}  # fmt: skip
    log = open(base / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    args = [binary, "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port),
            "--username", "labeler@example.com", "--password", secrets.token_hex(8),
            "--user-token", token, "--enable-legacy-api-token"]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LABEL_STUDIO_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                tail = (base / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"Label Studio exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Label Studio not up after {LABEL_STUDIO_START_TIMEOUT} s")
            time.sleep(1)
        yield SimpleNamespace(url=url, token=token, document_root=root)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def formats_blank_ws(_demo_ws_template, tmp_path):
    """Another copy of the demo workspace (24 images, no boxes) to import into."""
    import shutil

    from labeler.workspace import Workspace

    root = tmp_path / "blank"
    shutil.copytree(_demo_ws_template, root, symlinks=True)
    return Workspace.open(root)


# --- check ---


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
