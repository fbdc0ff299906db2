"""Proposals before the first draw: an unfinished image opens with its labels' proposals.

Once a label has accepted boxes in the dataset, they are its exemplar bank (a diverse
subset, :func:`labeler.prelabel.bank.bank_exemplar_boxes`); the first time an unfinished
image is opened, every such label is matched on it and the proposals worth showing are
stored (:func:`labeler.prelabel.proposing.propose`), so most images start with review, not
drawing. A label whose proposals keep being rejected has rankers that show few or none, so
a bank that does not help costs the annotator nothing. Each image is matched once per
matcher version (:class:`~labeler.store.models.OpeningRun`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labeler import imagecache
from labeler.matching import MATCHER_VERSION
from labeler.prelabel import learning, proposing
from labeler.prelabel.interactive import build_matcher, label_banks
from labeler.store.models import Box, Image, OpeningRun
from labeler.store.queries import InvalidInput, NotFound
from labeler.workspace import Workspace

# Exemplars per label: a few spread-out ones rank as well as many here and keep the
# opening under ~100 ms on a 640x480 image (each exemplar is a template to correlate).
OPENING_EXEMPLARS = 6
UNFINISHED = ("new", "in_progress")


def open_image(ws: Workspace, *, image_id: int, who: str) -> int:
    """Give image ``image_id`` its opening proposals if it never had them; returns how many
    were stored (0 when it is finished, had them already, or no label has exemplars).

    An exemplar that cannot be read no longer stops the image from opening: the image then
    opens without proposals (the annotator can still draw and press F).
    """
    with ws.sessions() as s:
        image = s.get(Image, image_id)
        if image is None or image.state not in UNFINISHED:
            return 0
        if s.get(OpeningRun, image_id) is not None:
            return 0
        # Decided or drawn boxes mean the annotator has begun. Undecided proposals (of a
        # Propagate, a batch prelabel) do not: the banks learnt since add what those
        # missed, never a duplicate of one.
        begun = select(Box.id).where(Box.image_id == image_id, Box.status != "proposed")
        specs = (
            []
            if s.scalar(begun.limit(1)) is not None
            else label_banks(s, image.dataset, per_label=OPENING_EXEMPLARS, exclude_image=image.id)
        )
        matcher = None
        if specs:
            try:
                matcher = build_matcher(ws, s, specs, learning.MIN_SCORE, imagecache.decoded)
            except InvalidInput:
                matcher = None
    new = []
    if matcher is not None:
        params = {**matcher.params, "opening": True, "exemplars": [sp.as_json() for sp in specs]}
        try:
            new = proposing.propose(
                ws, image_id=image_id, matcher=matcher, who=who, params=params,
                only_unfinished=True,
            ).new  # fmt: skip
        except (InvalidInput, NotFound):
            new = []
    try:
        with ws.sessions.begin() as s:
            s.add(OpeningRun(image_id=image_id, matcher_version=MATCHER_VERSION))
    except IntegrityError:  # two tabs opened it at once: the other one recorded it
        pass
    return len(new)
