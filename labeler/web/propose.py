"""From exemplar requests to stored proposals: shared by find-similar and Propagate jobs.

Matching runs outside any database transaction (it takes tens of ms and
SQLite has one writer); only reading the exemplars and swapping the
proposals are transactions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from labeler.matching import Exemplar, Matcher, Proposal
from labeler.store.models import Box, Dataset, Image
from labeler.store.queries import InvalidBox, validate_box
from labeler.web.errors import ApiError, field, invalid, not_found
from labeler.workspace import Workspace

MAX_EXEMPLARS = 50


@dataclass(frozen=True)
class ExemplarSpec:
    """An exemplar as the request named it: a box on an image of the dataset."""

    image_id: int
    box: tuple[float, float, float, float]
    label: str
    box_id: int | None = None

    def as_json(self) -> dict:
        return {"image_id": self.image_id, "box": list(self.box), "label": self.label}


def _spec_from_box(box: Box, dataset_id: int) -> ExemplarSpec:
    if box.image.dataset_id != dataset_id:
        raise invalid(f"box {box.id} belongs to another dataset")
    return ExemplarSpec(box.image_id, box.xywh, box.label.name, box.id)


def parse_exemplars(
    s: Session, data: dict, dataset: Dataset, *, default_image: Image | None = None
) -> list[ExemplarSpec]:
    """Exemplars from ``box_ids`` and/or ``exemplars: [{image_id?, x, y, w, h, label}]``.

    Without either, every accepted box of ``default_image`` (of ``label`` if
    given) is an exemplar. Raises 400/404/422 :class:`ApiError`.
    """
    specs: list[ExemplarSpec] = []
    labels = {lab.name for lab in dataset.labels}
    for box_id in field(data, "box_ids", "list", required=False, default=[]):
        if isinstance(box_id, bool) or not isinstance(box_id, int):
            raise ApiError(400, f"box_ids must be integers, got {box_id!r}")
        box = s.get(Box, box_id)
        if box is None:
            raise not_found(f"no box with id {box_id}")
        specs.append(_spec_from_box(box, dataset.id))
    for i, ex in enumerate(field(data, "exemplars", "list", required=False, default=[])):
        if not isinstance(ex, dict):
            raise ApiError(400, f"exemplars[{i}] must be an object")
        image_id = field(ex, "image_id", "int", required=default_image is None)
        image = default_image if image_id is None else s.get(Image, image_id)
        if image is None or image.dataset_id != dataset.id:
            raise not_found(f"exemplars[{i}]: no image {image_id} in dataset {dataset.name!r}")
        label = field(ex, "label", "str")
        if label not in labels:
            raise invalid(f"exemplars[{i}]: unknown label {label!r} (labels: {sorted(labels)})")
        xywh = [field(ex, k, "number") for k in ("x", "y", "w", "h")]
        try:
            box = validate_box(*xywh, width=image.width, height=image.height)
        except InvalidBox as exc:
            raise invalid(f"exemplars[{i}] on image {image.id}: {exc}") from None
        specs.append(ExemplarSpec(image.id, box, label))
    if not specs and default_image is not None:
        only = field(data, "label", "str", required=False)
        q = select(Box).where(Box.image_id == default_image.id, Box.status == "accepted")
        specs = [
            _spec_from_box(b, dataset.id)
            for b in s.scalars(q.order_by(Box.id))
            if only is None or b.label.name == only
        ]
    if not specs:
        raise invalid("no exemplars: select boxes, give box_ids or exemplars, or accept a box")
    if len(specs) > MAX_EXEMPLARS:
        raise invalid(f"at most {MAX_EXEMPLARS} exemplars, got {len(specs)}")
    return specs


def target_condition(dataset_id: int, *, scope: str, after: int):
    """Which images a propagate job visits: unfinished ones after ``after`` (scope
    ``next``, then limited to ``n``) or all unfinished ones but ``after`` (scope ``all``)."""
    cond = and_(
        Image.dataset_id == dataset_id, Image.state.in_(("new", "in_progress")), Image.id != after
    )
    return and_(cond, Image.id > after) if scope == "next" else cond


def min_score(data: dict, default: float = 0.5) -> float:
    value = field(data, "min_score", "number", required=False, default=default)
    if not 0.0 <= value <= 1.0:
        raise invalid(f"min_score must be in [0, 1], got {value}")
    return float(value)


_MATCHERS: OrderedDict[tuple, Matcher] = OrderedDict()
_MATCHERS_LOCK = threading.Lock()
MATCHER_CACHE = 16


def build_matcher(
    ws: Workspace, s: Session, specs: Sequence[ExemplarSpec], threshold: float, read
) -> Matcher:
    """A Matcher for ``specs``; ``read(ws, image)`` decodes an image. Bad exemplars -> 422.

    Matchers are cached by exemplar content (image hash, box, label) and
    threshold: pressing F again, or Propagate after F, skips building the
    template bank.
    """
    images = {sp.image_id: s.get(Image, sp.image_id) for sp in specs}
    key = (tuple((images[sp.image_id].sha256, sp.box, sp.label) for sp in specs), threshold)
    with _MATCHERS_LOCK:
        if key in _MATCHERS:
            _MATCHERS.move_to_end(key)
            return _MATCHERS[key]
    exemplars = []
    for spec in specs:
        try:
            pixels = read(ws, images[spec.image_id])
            exemplars.append(Exemplar(image=pixels, box=spec.box, label=spec.label))
        except (OSError, ValueError) as exc:  # unreadable file, box too small or flat
            raise invalid(f"exemplar on image {spec.image_id}: {exc}") from None
    matcher = Matcher(exemplars, min_score=threshold)
    with _MATCHERS_LOCK:
        _MATCHERS[key] = matcher
        while len(_MATCHERS) > MATCHER_CACHE:
            _MATCHERS.popitem(last=False)
    return matcher


def exclusions(s: Session, image_id: int, keep: set[int]) -> list[tuple[float, ...]]:
    """Boxes new proposals must not duplicate: everything except replaceable proposals."""
    rows = s.scalars(select(Box).where(Box.image_id == image_id))
    return [b.xywh for b in rows if not _replaceable(b) or b.id in keep]


def _replaceable(box: Box) -> bool:
    return box.status == "proposed" and box.source == "matcher"


def store_proposals(
    s: Session,
    image: Image,
    proposals: Sequence[Proposal],
    *,
    params: dict,
    who: str,
    keep: set[int] = frozenset(),
    job_id: int | None = None,
) -> tuple[list[Box], list[int]]:
    """Replace the image's undecided matcher proposals by ``proposals``.

    Returns the new boxes and the ids of the removed ones. Proposals are
    clipped to the image; ``keep`` ids (exemplars that are proposals) stay.
    """
    old = [
        b.id
        for b in s.scalars(select(Box).where(Box.image_id == image.id, Box.status == "proposed"))
        if _replaceable(b) and b.id not in keep
    ]
    if old:
        s.execute(delete(Box).where(Box.id.in_(old)).execution_options(synchronize_session=False))
    ids = {lab.name: lab.id for lab in image.dataset.labels}
    new = []
    for p in proposals:
        x0, y0 = max(0.0, p.box[0]), max(0.0, p.box[1])
        x1 = min(float(image.width), p.box[0] + p.box[2])
        y1 = min(float(image.height), p.box[1] + p.box[3])
        if x1 - x0 < 1 or y1 - y0 < 1 or p.label not in ids:
            continue
        new.append(
            Box(
                image_id=image.id,
                label_id=ids[p.label],
                x=x0,
                y=y0,
                w=x1 - x0,
                h=y1 - y0,
                status="proposed",
                source="matcher",
                score=p.score,
                params=params,
                job_id=job_id,
                created_by=who,
                updated_by=who,
            )
        )
    s.add_all(new)
    s.flush()
    return new, old
