"""labeler.matching: what matchers share on one image (pyramid pieces, cached norms) must
give exactly the candidates each matcher computes on its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import DEMO

from labeler.imageio import read_image
from labeler.matching import Candidates, Exemplar, Matcher
from labeler.matching.levels import TargetLevels
from labeler.matching.ncc import MAX_CACHED_SIZES, Level, template_integrals, unit_template


def _demo_matchers() -> list[Matcher]:
    """One matcher per label of the demo's exemplars: each its own colour axis."""
    entries = json.loads((DEMO / "exemplars.json").read_text())
    by_label: dict[str, list[Exemplar]] = {}
    for e in entries:
        img = read_image(DEMO / "images" / e["image"])
        by_label.setdefault(e["label"], []).append(
            Exemplar(image=img, box=tuple(e["box"]), label=e["label"])
        )
    return [Matcher(exs, min_score=0.2) for exs in by_label.values()]


def _same(a: Candidates, b: Candidates) -> None:
    assert a.labels == b.labels
    for x, y in ((a.boxes, b.boxes), (a.scores, b.scores), (a.features, b.features)):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()  # bit for bit, not approximately


@pytest.fixture(scope="module")
def matchers() -> list[Matcher]:
    return _demo_matchers()


@pytest.mark.parametrize("name", ["BloodImage_00094.jpg", "BloodImage_00197.jpg"])
def test_shared_levels_give_the_unshared_candidates(matchers, name):
    target = read_image(DEMO / "images" / name)
    alone = [m.candidates(target, min_score=0.2) for m in matchers]
    shared = TargetLevels(target)
    # Twice over the labels: the second pass reads only what the first left in the cache.
    for _ in range(2):
        for m, want in zip(matchers, alone, strict=True):
            _same(m.candidates(target, min_score=0.2, shared=shared), want)
    assert sum(len(c) for c in alone) > 0


def test_shared_levels_with_exclusions_and_refinement(matchers):
    target = read_image(DEMO / "images" / "BloodImage_00094.jpg")
    exclude = [(100.0, 100.0, 60.0, 60.0)]
    shared = TargetLevels(target)
    for m in matchers:
        want = m.candidates(target, exclude=exclude, refine=True)
        _same(m.candidates(target, exclude=exclude, refine=True, shared=shared), want)


def test_shared_levels_refuse_another_image(matchers):
    target = read_image(DEMO / "images" / "BloodImage_00094.jpg")
    with pytest.raises(ValueError, match="another target"):
        matchers[0].candidates(target.copy(), shared=TargetLevels(target))


def test_halvings_match_a_direct_chain():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    levels = TargetLevels(target)
    eight = levels.halved(8).copy()
    assert levels.halved(2).shape == (48, 65, 3)
    assert np.array_equal(TargetLevels(target).halved(8), eight)


def test_cached_band_norms_give_the_same_map():
    rng = np.random.default_rng(5)
    planes = rng.normal(0, 20, (40, 52, 2)).astype(np.float32)
    tpl = unit_template(rng.normal(0, 1, (9, 11, 2)).astype(np.float32))
    level = Level(planes, 2, (4, 5))
    want = level.ncc(tpl, (4, 5), template_integrals(tpl))
    cache: dict = {}
    first = level.ncc(tpl, (4, 5), template_integrals(tpl), band_norms=cache)
    again = level.ncc(tpl, (4, 5), template_integrals(tpl), band_norms=cache)
    assert len(cache) == 1
    assert want.tobytes() == first.tobytes() == again.tobytes()


def test_band_norm_cache_is_bounded():
    rng = np.random.default_rng(6)
    tpl = unit_template(rng.normal(0, 1, (9, 11, 2)).astype(np.float32))
    level = Level(rng.normal(0, 20, (40, 52, 2)).astype(np.float32), 2, (4, 5))
    cache: dict = {("another size", i): [] for i in range(MAX_CACHED_SIZES)}
    level.ncc(tpl, (4, 5), template_integrals(tpl), band_norms=cache)
    assert len(cache) == 1  # full: emptied, then this size's norms kept
