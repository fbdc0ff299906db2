"""HTML pages: datasets, one dataset's thumbnail grid, and the annotator shell.

Pages render server-side data only through Jinja (autoescaped); scripts get
their data from ``data-*`` attributes, never from inline JavaScript (the CSP
forbids it).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from labeler.store import accounts as account_queries
from labeler.store import browsing, review
from labeler.store.models import IMAGE_STATES, Dataset, Image
from labeler.store.queries import require
from labeler.web.common import viewer_id, workspace
from labeler.web.csrf import csrf_token
from labeler.web.errors import ApiError
from labeler.web.pages_hotkeys import load_hotkeys
from labeler.web.params import image_filters
from labeler.web.shapes import image_item, label_json

bp = Blueprint("pages", __name__)


@bp.get("/")
def list_datasets():
    with workspace().sessions() as s:
        rows = browsing.list_datasets(s)
        counts = browsing.dataset_counts(s, [d.id for d in rows])
        items = [
            {"id": d.id, "name": d.name, "counts": counts[d.id], "labels": d.labels} for d in rows
        ]
        return render_template("datasets.html", datasets=items, states=IMAGE_STATES)


def _page_url(dataset_id: int, cursor: int | None) -> str:
    """This listing's URL (same filters) at ``cursor`` (None: the first page)."""
    args = {k: v for k, v in request.args.items() if k != "page"}
    if cursor is not None:
        args["page"] = cursor
    return url_for("pages.show_dataset", dataset_id=dataset_id, **args)


@bp.get("/datasets/<int:dataset_id>")
def show_dataset(dataset_id: int):
    with workspace().sessions() as s:
        ds = require(s, Dataset, dataset_id)
        try:
            filters = image_filters(ds)
        except ApiError as exc:
            abort(400, exc.detail)
        rows, nxt = browsing.list_images(s, ds, **filters)
        label = next((lab for lab in ds.labels if lab.id == filters["label_id"]), None)
        owners = account_queries.assignees(s, [im.id for im in rows])
        return render_template(
            "dataset.html",
            dataset=ds,
            labels=ds.labels,
            counts=browsing.dataset_counts(s, [ds.id])[ds.id],
            images=[{**image_item(im, ds), "assignee": owners.get(im.id)} for im in rows],
            users=[a.name for a in account_queries.list_accounts(s)],
            box_counts=browsing.box_counts(s, [im.id for im in rows]),
            states=IMAGE_STATES,
            filters={
                "state": filters["state"] or "",
                "label": label.name if label else "",
                "undecided": filters["undecided"],
                "assignee": filters["assignee"],
                "page": filters["after"],
            },
            first_url=_page_url(ds.id, None) if filters["after"] is not None else None,
            next_url=_page_url(ds.id, nxt) if nxt is not None else None,
        )


@bp.get("/images/<int:image_id>")
def annotate_image(image_id: int):
    """The annotator (``templates/annotate.html``, owned by the front-end)."""
    with workspace().sessions() as s:
        im = require(s, Image, image_id)
        ds = im.dataset
        item = image_item(im, ds)
        nav = browsing.neighbours(s, im, assignee_id=viewer_id())
        prev = s.get(Image, nav["prev_id"]) if nav["prev_id"] is not None else None
        return render_template(
            "annotate.html",
            image={
                "id": im.id,
                "width": im.width,
                "height": im.height,
                "rel_path": item["path"],
                "state": im.state,
                "version": im.version,
            },
            dataset={"id": ds.id, "name": ds.name},
            labels=[label_json(lab) for lab in ds.labels],
            csrf_token=csrf_token(),
            review=review.send_back_note(s, im),
            position=browsing.image_position(s, im),
            counts=browsing.dataset_counts(s, [ds.id])[ds.id],
            prev_name=image_item(prev, ds)["path"] if prev is not None else None,
            hotkeys=load_hotkeys(workspace()),
            **nav,
        )


@bp.get("/datasets/<int:dataset_id>/goto")
def jump_to_image(dataset_id: int):
    """``?to=N`` (the N-th image) or ``?to=NAME`` (a file name or part of one): the annotator."""
    target = request.args.get("to", "").strip()
    if not target:
        abort(400, "to: give an image number or a file name")
    with workspace().sessions() as s:
        ds = require(s, Dataset, dataset_id)
        found = (
            browsing.image_at(s, ds.id, int(target))
            if target.isdigit()
            else browsing.image_named(s, ds.id, target)
        )
    if found is None:
        abort(404, f"to: no image {target!r} in dataset {ds.name}")
    return redirect(url_for("pages.annotate_image", image_id=found))
