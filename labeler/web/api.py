"""The JSON API, ``/api/v1``: session, datasets, images and their files.

Boxes, labels, matching and jobs add their routes to the same blueprint from
:mod:`labeler.web.api_boxes`, :mod:`labeler.web.api_labels` and
:mod:`labeler.web.api_match`. Views stay thin: parse, one transaction, serialise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, jsonify, request, send_file
from sqlalchemy import select

from labeler.store.models import IMAGE_STATES, Box, Dataset, Image
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
from labeler.web.errors import bad_request, invalid, not_found

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def _int_arg(name: str, *, lo: int, hi: int) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise invalid(f"query parameter {name!r} must be in [{lo}, {hi}], got {value}")
    return value


def _flag_arg(name: str) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise bad_request(f"query parameter {name!r} must be 1 or 0, got {raw!r}")


def image_filters(dataset: Dataset) -> dict:
    """``state``, ``label`` (name) or ``label_id``, ``undecided``, ``page``, ``limit`` checked."""
    state = request.args.get("state", "").strip() or None
    if state is not None and state not in IMAGE_STATES:
        raise invalid(f"state must be one of {', '.join(IMAGE_STATES)}, got {state!r}")
    label_id = _int_arg("label_id", lo=1, hi=2**62)
    name = request.args.get("label", "").strip()
    if name:
        matches = [lab.id for lab in dataset.labels if lab.name == name]
        if not matches:
            known = ", ".join(lab.name for lab in dataset.labels) or "none"
            raise invalid(f"unknown label {name!r} in dataset {dataset.name!r} (labels: {known})")
        label_id = matches[0]
    elif label_id is not None and label_id not in {lab.id for lab in dataset.labels}:
        raise invalid(f"label_id {label_id} is not a label of dataset {dataset.name!r}")
    return {
        "state": state,
        "label_id": label_id,
        "undecided": _flag_arg("undecided"),
        "after": _int_arg("page", lo=0, hi=2**62),
        "limit": _int_arg("limit", lo=1, hi=MAX_PAGE_SIZE) or PAGE_SIZE,
    }


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
    max_side = _int_arg("max", lo=64, hi=65536)
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


# Routes in these modules attach themselves to ``bp``.
from labeler.web import api_boxes, api_labels, api_match  # noqa: E402, F401
