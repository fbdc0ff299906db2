"""``/api/v1``: session, datasets, images and their files."""

from __future__ import annotations

from flask import Blueprint, jsonify, send_file

from labeler import imagecache
from labeler.prelabel import opening
from labeler.store import accounts as account_queries
from labeler.store import browsing, review
from labeler.store.models import BOX_STATUSES, Dataset, Image
from labeler.store.queries import require
from labeler.web.common import identity, user, viewer_id, workspace
from labeler.web.csrf import csrf_token
from labeler.web.params import choice_arg, float_arg, image_filters, int_arg
from labeler.web.shapes import box_json, image_item, label_json

bp = Blueprint("images", __name__)


@bp.get("/session")
def show_session():
    who = identity()
    local = who.account_id is None
    return jsonify(
        {
            "csrf_token": csrf_token(),
            "user": workspace().user if local else who.name,
            "role": who.role,
            "mode": "single-user" if local else "team",
        }
    )


def _dataset_json(ds: Dataset, counts: dict) -> dict:
    return {
        "id": ds.id,
        "name": ds.name,
        "counts": counts,
        "labels": [label_json(lab) for lab in ds.labels],
    }


@bp.get("/datasets")
def list_datasets():
    with workspace().sessions() as s:
        rows = browsing.list_datasets(s)
        counts = browsing.dataset_counts(s, [d.id for d in rows])
        return jsonify([_dataset_json(d, counts[d.id]) for d in rows])


@bp.get("/datasets/<int:dataset_id>")
def show_dataset(dataset_id: int):
    with workspace().sessions() as s:
        ds = require(s, Dataset, dataset_id)
        return jsonify(_dataset_json(ds, browsing.dataset_counts(s, [ds.id])[ds.id]))


@bp.get("/datasets/<int:dataset_id>/images")
def list_dataset_images(dataset_id: int):
    with workspace().sessions() as s:
        ds = require(s, Dataset, dataset_id)
        rows, nxt = browsing.list_images(s, ds, **image_filters(ds))
        return jsonify({"items": [image_item(im, ds) for im in rows], "next": nxt})


def image_json(s, image: Image, **box_filters) -> dict:
    boxes = browsing.image_boxes(s, image.id, **box_filters)
    return {
        **image_item(image, image.dataset),
        "dataset_id": image.dataset_id,
        "version": image.version,
        **browsing.neighbours(s, image, assignee_id=viewer_id()),
        "assignee": account_queries.assignees(s, [image.id]).get(image.id),
        "review": review.send_back_note(s, image),
        "boxes": [box_json(b) for b in boxes],
    }


@bp.get("/images/<int:image_id>")
def show_image(image_id: int):
    """The image and its boxes; an unfinished image opened for the first time gets its
    labels' proposals first (:func:`labeler.prelabel.opening.open_image`).

    Optional, for the annotator's threshold slider: ``status`` (only boxes of it),
    ``min_score`` (proposals below it left out) and ``order=review`` (best first, then top
    to bottom, left to right; default ``id``)."""
    box_filters = {
        "status": choice_arg("status", BOX_STATUSES),
        "min_score": float_arg("min_score", lo=0.0, hi=1.0),
        "order": choice_arg("order", ("id", "review")) or "id",
    }
    opening.open_image(workspace(), image_id=image_id, who=user())
    with workspace().sessions() as s:
        return jsonify(image_json(s, require(s, Image, image_id), **box_filters))


def _send(path, mimetype: str):
    resp = send_file(path, mimetype=mimetype, conditional=True, max_age=3600)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/images/<int:image_id>/file")
def send_image_file(image_id: int):
    max_side = int_arg("max", lo=64, hi=65536)
    ws = workspace()
    with ws.sessions() as s:
        im = require(s, Image, image_id)
        with imagecache.readable(im):
            path, mimetype = imagecache.display_file(ws, im, max_side)
    return _send(path, mimetype)


@bp.get("/images/<int:image_id>/thumbnail")
def send_thumbnail(image_id: int):
    ws = workspace()
    with ws.sessions() as s:
        im = require(s, Image, image_id)
        with imagecache.readable(im):
            path = imagecache.thumbnail(ws, im)
    return _send(path, "image/jpeg")
