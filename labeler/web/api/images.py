"""``/api/v1``: session, datasets, images and their files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, jsonify, send_file
from sqlalchemy import select

from labeler.store.models import Box, Dataset, Image
from labeler.web import thumbs
from labeler.web.common import (
    box_json,
    dataset_counts,
    get_or_404,
    image_item,
    label_json,
    list_images,
    neighbours,
    workspace,
)
from labeler.web.csrf import csrf_token
from labeler.web.errors import invalid, not_found
from labeler.web.params import image_filters, int_arg

bp = Blueprint("images", __name__)


@bp.get("/session")
def session_info():
    return jsonify({"csrf_token": csrf_token(), "user": workspace().user})


def _dataset_json(ds: Dataset, counts: dict) -> dict:
    return {
        "id": ds.id,
        "name": ds.name,
        "counts": counts,
        "labels": [label_json(lab) for lab in ds.labels],
    }


@bp.get("/datasets")
def datasets():
    with workspace().sessions() as s:
        rows = list(s.scalars(select(Dataset).order_by(Dataset.name)))
        counts = dataset_counts(s, [d.id for d in rows])
        return jsonify([_dataset_json(d, counts[d.id]) for d in rows])


@bp.get("/datasets/<int:dataset_id>")
def dataset(dataset_id: int):
    with workspace().sessions() as s:
        ds = get_or_404(s, Dataset, dataset_id)
        return jsonify(_dataset_json(ds, dataset_counts(s, [ds.id])[ds.id]))


@bp.get("/datasets/<int:dataset_id>/images")
def images(dataset_id: int):
    with workspace().sessions() as s:
        ds = get_or_404(s, Dataset, dataset_id)
        rows, nxt = list_images(s, ds, **image_filters(ds))
        return jsonify({"items": [image_item(im, ds) for im in rows], "next": nxt})


def image_json(s, image: Image) -> dict:
    boxes = s.scalars(select(Box).where(Box.image_id == image.id).order_by(Box.id))
    return {
        **image_item(image, image.dataset),
        "dataset_id": image.dataset_id,
        "version": image.version,
        **neighbours(s, image),
        "boxes": [box_json(b) for b in boxes],
    }


@bp.get("/images/<int:image_id>")
def image(image_id: int):
    with workspace().sessions() as s:
        return jsonify(image_json(s, get_or_404(s, Image, image_id)))


@contextmanager
def readable(image: Image) -> Iterator[None]:
    """A missing file is 404, an unreadable one 422, both naming the image."""
    try:
        yield
    except FileNotFoundError as exc:
        raise not_found(str(exc)) from None
    except (OSError, ValueError) as exc:  # truncated or corrupt file, unknown format
        raise invalid(f"image {image.id} ({image.path}) cannot be read: {exc}") from None


def _send(path, mimetype: str):
    resp = send_file(path, mimetype=mimetype, conditional=True, max_age=3600)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/images/<int:image_id>/file")
def image_file(image_id: int):
    max_side = int_arg("max", lo=64, hi=65536)
    ws = workspace()
    with ws.sessions() as s:
        im = get_or_404(s, Image, image_id)
        with readable(im):
            path, mimetype = thumbs.display_file(ws, im, max_side)
    return _send(path, mimetype)


@bp.get("/images/<int:image_id>/thumbnail")
def image_thumbnail(image_id: int):
    ws = workspace()
    with ws.sessions() as s:
        im = get_or_404(s, Image, image_id)
        with readable(im):
            path = thumbs.thumbnail(ws, im)
    return _send(path, "image/jpeg")
