"""Exemplar banks: a few accepted boxes of a label, spread over its sizes and colours, that
stand for the label when nothing on the image was drawn yet (:mod:`labeler.prelabel.opening`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labeler.matching import Exemplar
from labeler.matching.bank import MIN_BOX_SIDE  # smaller exemplars are refused
from labeler.ranking import descriptors, diverse_subset
from labeler.store.models import Box, Image

BANK_POOL = 400  # newest accepted boxes a bank is chosen from


def bank_exemplar_boxes(
    session: Session,
    *,
    dataset_id: int,
    label_id: int,
    k: int = 50,
    load_image: Callable[[Image], np.ndarray] | None = None,
    pool: int = BANK_POOL,
) -> list[tuple[int, tuple[float, float, float, float]]]:
    """Up to ``k`` accepted boxes of a label spread over its sizes (and, with
    ``load_image``, its colours): ``[(image_id, (x, y, w, h))]`` for the exemplar bank.

    Chosen by :func:`labeler.ranking.diverse_subset` among the newest ``pool`` accepted
    boxes of at least 4 px a side, leaving out boxes that touch the image border while
    others exist (a clipped exemplar finds half-boxes). ``load_image(image_row)`` returns
    the pixels (as :func:`labeler.imageio.read_image`); each image is loaded once; without
    it the descriptors are log width and height only (no pixels read).
    """
    rows = session.execute(
        select(Box.id, Box.image_id, Box.x, Box.y, Box.w, Box.h, Image.width, Image.height)
        .join(Image, Image.id == Box.image_id)
        .where(
            Image.dataset_id == dataset_id,
            Box.label_id == label_id,
            Box.status == "accepted",
            Box.w >= MIN_BOX_SIDE,
            Box.h >= MIN_BOX_SIDE,
        )
        .order_by(Box.id.desc())
        .limit(pool)
    ).all()
    inner = [
        r for r in rows if r.x > 0.5 and r.y > 0.5 and r.x + r.w < r.width - 0.5
        and r.y + r.h < r.height - 0.5
    ]  # fmt: skip
    rows = sorted(inner or rows, key=lambda r: r.id)
    if not rows:
        return []
    boxes = [(r.image_id, (float(r.x), float(r.y), float(r.w), float(r.h))) for r in rows]
    if load_image is None:
        desc = np.log(np.array([[b[2], b[3]] for _, b in boxes], np.float64))
    else:
        desc_rows, kept = [], []
        for image_id in dict.fromkeys(i for i, _ in boxes):
            pixels = load_image(session.get(Image, image_id))
            for i, box in ((i, b) for i, b in boxes if i == image_id):
                try:
                    desc_rows.append(descriptors([Exemplar(image=pixels, box=box)])[0])
                except ValueError:  # flat or outside the image: not an exemplar
                    continue
                kept.append((i, box))
        boxes, desc = kept, np.array(desc_rows, np.float64).reshape(-1, 5)
    return [boxes[i] for i in diverse_subset(desc, k=k)]
