"""The Completeness page: ``labeler check`` as HTML, every item a link to the annotator.

``/completeness`` shows every dataset, ``/datasets/<id>/completeness`` one. Optional
query parameters ``min_box_size`` (px) and ``min_per_label`` (boxes) as in the CLI.
Files are not hashed here (that reads every byte): the page says how to run it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from labeler.completeness import CHECKS, check_dataset, check_workspace
from labeler.completeness.report import review_required
from labeler.store.models import Dataset
from labeler.store.queries import require
from labeler.web.common import workspace

bp = Blueprint("completeness", __name__)
blueprint = bp
LIMIT = 100


def _options() -> dict[str, Any]:
    """Thresholds from the query string; a bad value is a 400 naming the parameter."""
    options: dict[str, Any] = {"limit": LIMIT, "require_review": review_required(workspace())}
    for name, kind in (("min_box_size", float), ("min_per_label", int)):
        raw = request.args.get(name, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            abort(400, f"{name} must be a {kind.__name__}, got {raw!r}")
        if not value >= 0:  # also refuses NaN
            abort(400, f"{name} must be 0 or more, got {raw!r}")
        options[name] = value
    return options


def _render(reports, *, single: bool):
    return render_template(
        "completeness.html", reports=reports, single=single, checks=CHECKS, limit=LIMIT
    )


@bp.get("/completeness")
def show_completeness():
    return _render(check_workspace(workspace(), **_options()), single=False)


@bp.get("/datasets/<int:dataset_id>/completeness")
def show_dataset_completeness(dataset_id: int):
    ws = workspace()
    with ws.sessions() as s:
        name = require(s, Dataset, dataset_id).name
    return _render([check_dataset(ws, name, **_options())], single=True)
