"""Find similar: exemplars named in the annotator -> proposals on one image.

Shared with Propagate (:mod:`labeler.prelabel.propagate`): resolving exemplars and the
matcher cache. Matching runs outside any database transaction (it takes tens of ms and
SQLite has one writer); only reading the exemplars and writing the proposals are
transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler import imagecache
from labeler.matching import XYWH, Exemplar, Matcher
from labeler.matching.bank import MIN_BOX_SIDE
from labeler.prelabel import bank, learning, proposing
from labeler.prelabel.lru import Lru
from labeler.store.models import Box, Dataset, Image
from labeler.store.queries import InvalidBox, InvalidInput, NotFound, require, validate_box
from labeler.workspace import Workspace

MAX_EXEMPLARS = 50
MATCHER_CACHE = 16


@dataclass(frozen=True)
class ExemplarSpec:
    """An exemplar as the request named it: a box on an image of the dataset."""

    image_id: int
    box: XYWH
    label: str
    box_id: int | None = None

    def as_json(self) -> dict:
        return {"image_id": self.image_id, "box": list(self.box), "label": self.label}


def check_min_score(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"min_score must be in [0, 1], got {value}")
    return float(value)


def _spec_from_box(box: Box, dataset_id: int) -> ExemplarSpec:
    if box.image.dataset_id != dataset_id:
        raise InvalidInput(f"box {box.id} belongs to another dataset")
    return ExemplarSpec(box.image_id, box.xywh, box.label.name, box.id)


def resolve_exemplars(
    s: Session,
    dataset: Dataset,
    *,
    box_ids: Sequence[int] = (),
    exemplars: Sequence[dict] = (),
    label: str | None = None,
    default_image: Image | None = None,
) -> list[ExemplarSpec]:
    """Exemplars from ``box_ids`` and/or ``exemplars`` (``{image_id?, x, y, w, h, label}``).

    Without either, every accepted box of ``default_image`` (of ``label`` if given) is an
    exemplar. Raises :class:`NotFound` or :class:`InvalidInput`.
    """
    specs = [_spec_from_box(require(s, Box, box_id), dataset.id) for box_id in box_ids]
    labels = {lab.name for lab in dataset.labels}
    for i, ex in enumerate(exemplars):
        image_id = ex.get("image_id")
        image = default_image if image_id is None else s.get(Image, image_id)
        if image is None or image.dataset_id != dataset.id:
            raise NotFound(f"exemplars[{i}]: no image {image_id} in dataset {dataset.name!r}")
        if ex["label"] not in labels:
            raise InvalidInput(
                f"exemplars[{i}]: unknown label {ex['label']!r} (labels: {sorted(labels)})"
            )
        try:
            box = validate_box(*(ex[k] for k in "xywh"), width=image.width, height=image.height)
        except InvalidBox as exc:
            raise InvalidInput(f"exemplars[{i}] on image {image.id}: {exc}") from None
        specs.append(ExemplarSpec(image.id, box, ex["label"]))
    if not specs and default_image is not None:
        q = select(Box).where(Box.image_id == default_image.id, Box.status == "accepted")
        specs = [
            _spec_from_box(b, dataset.id)
            for b in s.scalars(q.order_by(Box.id))
            if label is None or b.label.name == label
        ]
    if not specs:
        raise InvalidInput("no exemplars: select boxes, give box_ids or exemplars, or accept a box")
    if len(specs) > MAX_EXEMPLARS:
        raise InvalidInput(f"at most {MAX_EXEMPLARS} exemplars, got {len(specs)}")
    return specs


def label_banks(
    s: Session, dataset: Dataset, *, per_label: int, exclude_image: int | None = None
) -> list[ExemplarSpec]:
    """Every label's exemplar bank (:func:`labeler.prelabel.bank.bank_exemplar_boxes`: up
    to ``per_label`` of its accepted boxes, spread over its sizes), boxes of
    ``exclude_image`` left out (an image is not matched with its own boxes)."""
    specs = []
    for lab in dataset.labels:
        boxes = bank.bank_exemplar_boxes(s, dataset_id=dataset.id, label_id=lab.id, k=per_label)
        specs += [ExemplarSpec(im, box, lab.name) for im, box in boxes if im != exclude_image]
    return specs


def matchable(box: XYWH, *, width: int, height: int) -> XYWH:
    """``box`` with a side under the matcher's :data:`~labeler.matching.bank.MIN_BOX_SIDE`
    grown to it about its centre, kept inside the ``width`` x ``height`` image: a thin
    object drawn 3 px wide still finds its like (with boxes that side 4 px) instead of
    answering the annotator's F with an error."""
    x, y, w, h = (float(v) for v in box)
    x, w = _grown(x, w, width)
    y, h = _grown(y, h, height)
    return (x, y, w, h)


def _grown(start: float, side: float, limit: int) -> tuple[float, float]:
    """One axis of :func:`matchable`: ``(start, side)`` grown to ``MIN_BOX_SIDE`` about its
    centre inside ``[0, limit]`` when shorter (and the image is not)."""
    if side >= MIN_BOX_SIDE or limit < MIN_BOX_SIDE:
        return start, side
    centred = start + side / 2 - MIN_BOX_SIDE / 2
    return min(max(centred, 0.0), limit - MIN_BOX_SIDE), float(MIN_BOX_SIDE)


_MATCHERS: Lru[Matcher] = Lru(MATCHER_CACHE)
Reader = Callable[[Workspace, Image], np.ndarray]


def build_matcher(
    ws: Workspace, s: Session, specs: Sequence[ExemplarSpec], threshold: float, read: Reader
) -> Matcher:
    """A Matcher for ``specs``; ``read(ws, image)`` decodes an image. Bad exemplars ->
    :class:`InvalidInput`.

    Matchers are cached by exemplar content (image hash, box, label) and threshold:
    pressing F again, or Propagate after F, skips building the template bank.
    """
    images = {sp.image_id: s.get(Image, sp.image_id) for sp in specs}
    key = (tuple((images[sp.image_id].sha256, sp.box, sp.label) for sp in specs), threshold)
    cached = _MATCHERS.get(key)
    if cached is not None:
        return cached
    exemplars = []
    for spec in specs:
        image = images[spec.image_id]
        box = matchable(spec.box, width=image.width, height=image.height)
        try:
            pixels = read(ws, image)
            exemplars.append(Exemplar(image=pixels, box=box, label=spec.label))
        except (OSError, ValueError) as exc:  # unreadable file, box too small or flat
            raise InvalidInput(f"exemplar on image {spec.image_id}: {exc}") from None
    return _MATCHERS.put(key, Matcher(exemplars, min_score=threshold))


def find_similar(
    ws: Workspace,
    *,
    image_id: int,
    who: str,
    min_score: float | None = None,
    box_ids: Sequence[int] = (),
    exemplars: Sequence[dict] = (),
    label: str | None = None,
) -> proposing.Proposed:
    """Exemplars -> proposals on image ``image_id`` (:func:`labeler.prelabel.proposing.propose`:
    ranked, calibrated, nothing undecided deleted): the new boxes, and the undecided
    proposals moved onto more probable candidates."""
    threshold = None if min_score is None else check_min_score(min_score)
    with ws.sessions() as s:
        image = require(s, Image, image_id)
        specs = resolve_exemplars(
            s, image.dataset, box_ids=box_ids, exemplars=exemplars, label=label,
            default_image=image,
        )  # fmt: skip
        matcher = build_matcher(ws, s, specs, learning.MIN_SCORE, imagecache.decoded)
    params = {**matcher.params, "exemplars": [sp.as_json() for sp in specs]}
    return proposing.propose(
        ws, image_id=image_id, matcher=matcher, who=who, params=params, min_score=threshold
    )
