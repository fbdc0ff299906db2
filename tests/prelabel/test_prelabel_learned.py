"""Batch ``labeler prelabel`` with what the dataset's decisions taught: the same ranking,
tightening and show rule as find similar (:mod:`labeler.prelabel.ranked`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from labeler.cli import cli
from labeler.matching import Matcher
from labeler.prelabel import learning, prelabel, proposing
from labeler.prelabel.run import dataset_exemplars
from labeler.ranking import Ranker
from labeler.store.models import Box, Image, Job
from labeler.store.queries import get_dataset, label_by_name

# A label whose proposals were mostly accepted, and one whose proposals were all rejected
# (the counts stage of Ranker: observed against what the prior expected).
KEEN = Ranker(n_pos=60, n_neg=5, expected_pos=10.0)
SILENCED = Ranker(n_pos=0, n_neg=80, expected_pos=40.0)


def teach(ws, **rankers: Ranker) -> None:
    """Store ``rankers`` (label name -> Ranker) as both rankers of each label."""
    with ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        for name, ranker in rankers.items():
            learning.upsert_state(
                s, dataset_id=ds.id, label_id=label_by_name(ds, name).id, n_examples=1,
                accepted=ranker.to_dict(), useful=ranker.to_dict(),
            )  # fmt: skip


def proposals(ws, label: str | None = None) -> list[tuple]:
    """``(image id, label, x, y, w, h, score)`` of every undecided proposal, rounded."""
    with ws.sessions() as s:
        rows = s.scalars(select(Box).where(Box.status == "proposed").order_by(Box.id)).all()
        return sorted(
            (b.image_id, b.label.name, *(round(v, 2) for v in b.xywh), round(b.score, 4))
            for b in rows
            if label is None or b.label.name == label
        )


@pytest.mark.parametrize(("learned", "expect_ranked"), [(None, True), (True, True), (False, False)])
def test_a_silenced_label_gets_no_batch_proposals_unless_learning_is_off(
    prelabel_ws, learned, expect_ranked
):
    teach(prelabel_ws, RBC=KEEN, Platelets=SILENCED)
    job_id, summary = prelabel(prelabel_ws, "demo", learned=learned, workers=1)
    assert (summary.proposals["Platelets"] == 0) is expect_ranked
    assert summary.proposals["RBC"] > 0
    with prelabel_ws.sessions() as s:
        params = s.get(Job, job_id).params
    assert params.get("ranked", False) is expect_ranked
    scores = [p[-1] for p in proposals(prelabel_ws, "RBC")]
    # ranked: calibrated probabilities (any value above the show rule); else NCC >= 0.5
    assert expect_ranked or min(scores) >= 0.5


def test_without_learned_state_batch_keeps_the_matchers_scores(prelabel_ws):
    job_id, _ = prelabel(prelabel_ws, "demo", workers=1)
    with prelabel_ws.sessions() as s:
        assert "ranked" not in s.get(Job, job_id).params
    assert min(p[-1] for p in proposals(prelabel_ws)) >= 0.5


def test_batch_and_find_similar_propose_the_same_boxes_and_scores(prelabel_ws):
    """One rule: on an image with no boxes, batch prelabel of one label stores exactly what
    the interactive path (:func:`labeler.prelabel.proposing.propose`) does with that label's
    exemplar and learned state."""
    ws = prelabel_ws
    teach(ws, RBC=KEEN)
    with ws.sessions() as s:
        ds = get_dataset(s, "demo")
        crops = dataset_exemplars(ws, s, ds, label="RBC")
        busy = select(Box.image_id)
        image_id = s.scalar(
            select(Image.id).where(Image.dataset_id == ds.id, Image.id.not_in(busy)).limit(1)
        )
    matcher = Matcher([c.exemplar() for c in crops], min_score=learning.MIN_SCORE)
    proposing.propose(ws, image_id=image_id, matcher=matcher, who="test", params={})
    interactive = [p for p in proposals(ws) if p[0] == image_id]
    with ws.sessions.begin() as s:
        s.execute(delete(Box).where(Box.status == "proposed"))
    prelabel(ws, "demo", label="RBC", workers=1)
    batch = [p for p in proposals(ws) if p[0] == image_id]
    assert interactive and batch == interactive


def test_cli_no_learned_flag(prelabel_ws):
    teach(prelabel_ws, Platelets=SILENCED)
    args = ["prelabel", "-d", "demo", "-w", str(prelabel_ws.root), "-q", "--workers", "1"]
    result = CliRunner().invoke(cli, [*args, "--no-learned"])
    assert result.exit_code == 0, result.output
    assert proposals(prelabel_ws, "Platelets")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert not proposals(prelabel_ws, "Platelets")
