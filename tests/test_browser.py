"""The annotator in a real headless Chromium against the real server and database.

Every test reads the page through its public ``data-*`` state and checks the database (or
the JSON API) too, so "the page says saved" and "it is saved" are both asserted.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import DEMO

pytestmark = pytest.mark.browser

EXEMPLAR_IMAGE = "BloodImage_00335.jpg"
RBC = (519.0, 104.0, 92.0, 102.0)  # an RBC in EXEMPLAR_IMAGE (datasets/demo/exemplars.json)


def first_exemplar():
    entry = json.loads((DEMO / "exemplars.json").read_text())[0]
    assert entry["image"] == EXEMPLAR_IMAGE and tuple(entry["box"]) == RBC
    return entry


def test_draw_label_find_accept_reload(annotator):
    first_exemplar()
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    page = annotator.page
    page.keyboard.press("3")  # Platelets
    assert annotator.data("current-label") == "Platelets"
    annotator.draw(*RBC)
    annotator.wait_saved()
    assert annotator.data("box-count") == "1"
    page.keyboard.press("1")  # relabel the selected (new) box to RBC
    annotator.wait_saved()
    [(_, label, x, y, w, h, status)] = annotator.db_boxes(image)
    assert (label, status) == ("RBC", "accepted")
    assert (x, y, w, h) == pytest.approx(RBC, abs=2)

    page.keyboard.press("f")
    annotator.wait_until("proposed-count", lambda v: v and int(v) > 3)
    annotator.wait_saved()
    proposed = int(annotator.data("proposed-count"))
    assert len(annotator.db_boxes(image, "proposed")) == proposed

    page.keyboard.press("Tab")
    assert annotator.data("selected-count") == "1"
    page.keyboard.press("a")
    annotator.wait_saved()
    assert annotator.data("box-count") == "2"
    page.keyboard.press("Tab")
    page.keyboard.press("x")
    annotator.wait_saved()
    assert annotator.data("rejected-count") == "1"
    page.keyboard.press("Shift+A")
    annotator.wait_saved()
    accepted = proposed + 1 - 1  # the drawn box, plus every proposal but the rejected one
    assert annotator.data("box-count") == str(accepted)
    assert annotator.data("proposed-count") == "0"
    page.screenshot(path=str(annotator_artifact("find-similar-accepted.png")))

    page.reload()
    page.wait_for_selector("#annotator[data-ready='1']")
    assert annotator.data("box-count") == str(accepted)
    assert len(annotator.db_boxes(image, "accepted")) == accepted
    api = annotator.api("GET", f"/images/{image}")
    assert sum(b["status"] == "accepted" for b in api["boxes"]) == accepted
    assert api["state"] == "in_progress"


def annotator_artifact(name):
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
