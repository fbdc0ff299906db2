"""The database side of ``labeler prelabel``: what to match, and writing what was found.

Each image's proposals are written in their own transaction that first deletes the
image's earlier undecided matcher proposals, so a re-run replaces rather than duplicates.
Accepted and rejected boxes are never touched; proposals the one rule of
:mod:`labeler.store.proposals` rules out (overlapping an accepted box of any label or a
rejected box of their label) are dropped, once before matching (as the matcher's
``exclude``) and again at write time, in case an annotator decided on a box while the run
was going.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from labeler.matching import Proposal
from labeler.prelabel.execute import Result, Task
from labeler.states import FINISHED_STATES
from labeler.store.models import Box, Dataset, Image, Job, LabelClass, utcnow
from labeler.store.proposals import DECIDED, Standing, drop_decided, matcher_exclusions
from labeler.workspace import Workspace

JOB_KIND = "prelabel"
SKIP_STATES = FINISHED_STATES  # approved too: a reviewer checked it
# DB-API paramstyle -> placeholder for a column name (PEP 249).
PLACEHOLDERS = {"qmark": "?", "named": ":{}", "format": "%s", "pyformat": "%s"}


def plan_tasks(
    session: Session, ws: Workspace, dataset: Dataset, labels: Sequence[str]
) -> list[Task]:
    """One task per image not done/empty, with its decided boxes as exclusions."""
    images = session.execute(
        select(Image.id, Image.path)
        .where(Image.dataset_id == dataset.id, Image.state.not_in(SKIP_STATES))
        .order_by(Image.id)
    ).all()
    standing: dict[int, list[Standing]] = defaultdict(list)
    decided = session.execute(
        select(Box.image_id, LabelClass.name, Box.status, Box.x, Box.y, Box.w, Box.h)
        .join(LabelClass, Box.label_id == LabelClass.id)
        .join(Image, Box.image_id == Image.id)
        .where(Image.dataset_id == dataset.id, Box.status.in_(DECIDED))
    )
    for image_id, label, status, *box in decided:
        standing[image_id].append((label, status, tuple(box)))
    tasks = []
    for image_id, path in images:
        every, by_label = matcher_exclusions(standing.get(image_id, ()), labels)
        tasks.append(
            Task(
                id=image_id,
                path=str(ws.abspath(path)),
                exclude=tuple(every),
                exclude_by_label={k: tuple(v) for k, v in by_label.items()},
            )
        )
    return tasks


_BOX, _IMAGE, _LABEL = Box.__table__, Image.__table__, LabelClass.__table__
# The image's state and its decided boxes in one statement, locking the image row: two
# runs writing one image serialise (PostgreSQL; SQLite locks the whole file anyway).
_DECIDED = (
    select(_IMAGE.c.state, _LABEL.c.name, _BOX.c.status, _BOX.c.x, _BOX.c.y, _BOX.c.w, _BOX.c.h)
    .select_from(
        _IMAGE.outerjoin(
            _BOX,
            and_(_BOX.c.image_id == _IMAGE.c.id, _BOX.c.status.in_(DECIDED)),
        ).outerjoin(_LABEL, _BOX.c.label_id == _LABEL.c.id)
    )
    .where(_IMAGE.c.id == bindparam("image_id"))
    .with_for_update(of=_IMAGE)
)
_DELETE = delete(_BOX).where(
    _BOX.c.image_id == bindparam("image_id"),
    _BOX.c.status == "proposed",
    _BOX.c.source == "matcher",
    # a run restricted to some labels keeps the other labels' proposals
    _BOX.c.label_id.in_(bindparam("label_ids", expanding=True)),
)

_JOB = Job.__table__
_BUMP = (
    update(_JOB)
    .where(_JOB.c.id == bindparam("job_id"))
    .values(done=_JOB.c.done + bindparam("n"))
    .execution_options(synchronize_session=False)
)


def _connection(db: Session | Connection) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def count_done(db: Session | Connection, job_id: int, n: int = 1) -> None:
    """``n`` more images of the job finished (in the caller's transaction)."""
    _connection(db).execute(_BUMP, {"job_id": job_id, "n": n})


def store_result(
    db: Session | Connection,
    result: Result,
    *,
    job_id: int,
    label_ids: dict[str, int],
    params: dict,
    user: str,
) -> list[Proposal] | None:
    """Replace one image's undecided matcher proposals of the run's labels (``label_ids``)
    by ``result``'s, in the caller's transaction (``db``: a Session or a Connection).

    Returns the proposals stored, or None when the image was finished (done/empty) or
    deleted meanwhile (then nothing is changed).
    """
    conn = _connection(db)  # Core statements built once: this runs per image
    found = conn.execute(_DECIDED, {"image_id": result.id}).all()
    if not found or found[0][0] in SKIP_STATES:
        return None
    rows = [(label, status, (x, y, w, h)) for _, label, status, x, y, w, h in found if status]
    keep = drop_decided(result.proposals, rows)
    conn.execute(_DELETE, {"image_id": result.id, "label_ids": list(label_ids.values())})
    if keep:
        constant = {"image_id": result.id, "status": "proposed", "source": "matcher",
                    "job_id": job_id, "is_exemplar": False, "created_at": utcnow(),
                    "created_by": user, "version": 1}  # fmt: skip
        constant |= {"updated_at": constant["created_at"], "updated_by": user}
        insert_boxes(conn, keep, constant, label_ids=label_ids, params=params)
    return keep


def insert_boxes(
    db: Session | Connection,
    proposals: Sequence[Proposal],
    constant: dict,
    *,
    label_ids: dict,
    params: dict,
) -> None:
    """One executemany INSERT of ``proposals`` with the same ``constant`` column values.

    The rows go to the DB-API directly, each distinct value converted once by its column
    type's own bind processor: through SQLAlchemy's per-row parameter handling a row cost
    ~0.3 ms (JSON and datetimes converted per row), which made the parent process, not
    the matching, the limit on 2 cores. Placeholders follow the driver's paramstyle, so
    the statement stays portable (SQLite, PostgreSQL).
    """
    conn = _connection(db)
    dialect = conn.dialect
    table = Box.__table__
    names = [*constant, "label_id", "params", "x", "y", "w", "h", "score"]
    style = dialect.paramstyle
    raw = style not in PLACEHOLDERS  # a rare driver: SQLAlchemy's own (slower) executemany

    def db(column: str, value: object) -> object:
        proc = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        return value if raw or proc is None else proc(value)

    fixed = [db(k, v) for k, v in constant.items()]
    per_label = {
        lab: (db("label_id", i), db("params", params[lab])) for lab, i in label_ids.items()
    }
    rows = [(*fixed, *per_label[p.label], *p.box, p.score) for p in proposals]  # floats already
    if raw or style == "named":
        rows = [dict(zip(names, r, strict=True)) for r in rows]
    if raw:
        conn.execute(insert(table), rows)
        return
    quote = dialect.identifier_preparer.quote
    marks = ", ".join(PLACEHOLDERS[style].format(n) for n in names)
    columns = ", ".join(quote(n) for n in names)
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", rows)
