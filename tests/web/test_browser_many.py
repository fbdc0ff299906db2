"""2,000 boxes on one image: everything loads, the panel stays small, and after a zoom and a
pan the boxes are drawn where they are (the box layer is moved during the motion and redrawn
once the view is still). Correctness only: speed is scripts/bench_annotator.py's job."""

from __future__ import annotations

import numpy as np
import pytest
from test_browser import EXEMPLAR_IMAGE, artifact
from test_browser_defects import canvas_origin, tinted, top_edge_colours

pytestmark = pytest.mark.browser

MARKER = (300.0, 200.0, 120.0, 90.0)  # a WBC box among 2,000 small RBCs


@pytest.fixture
def crowded_image(live_server):
    from sqlalchemy import select

    from labeler.store.models import Box, Image, LabelClass

    ws = live_server.ws
    rng = np.random.default_rng(11)
    with ws.sessions.begin() as s:
        image = s.scalar(select(Image).where(Image.path.endswith("/" + EXEMPLAR_IMAGE)))
        labels = {lab.name: lab for lab in s.scalars(select(LabelClass))}
        boxes = []
        while len(boxes) < 1999:  # keep clear of the marker so its edge stays visible
            w, h = rng.uniform(6, 20, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            if x + w > 280 and x < 440 and y + h > 180 and y < 310:
                continue
            boxes.append(Box(image_id=image.id, label_id=labels["RBC"].id, x=float(x),
                             y=float(y), w=float(w), h=float(h), status="accepted"))  # fmt: skip
        x, y, w, h = MARKER
        boxes.append(Box(image_id=image.id, label_id=labels["WBC"].id, x=x, y=y, w=w, h=h,
                         status="accepted"))  # fmt: skip
        s.add_all(boxes)
        colour = labels["WBC"].colour
        return image.id, tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def marker_edge(annotator):
    x, y, w, _ = MARKER
    cx, cy = canvas_origin(annotator, x, y)
    scale = annotator.num("scale")
    return [top_edge_colours(annotator.page, cx + 10, cy + d, w * scale - 20) for d in (-1, 0, 1)]


def wait_drawn_at_marker(annotator, colour):
    """Until the marker's top edge is its label colour where the view says it is."""
    import time

    deadline = time.monotonic() + 20
    while not any(all(tinted(c, colour) for c in row) for row in marker_edge(annotator)):
        assert time.monotonic() < deadline, "the marker box is not drawn where it is"
        annotator.page.wait_for_timeout(50)


def test_two_thousand_boxes_load_zoom_pan_and_panel(annotator, crowded_image):
    from playwright.sync_api import expect

    image, colour = crowded_image
    page = annotator.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    annotator.open(image)
    annotator.wait_data("box-count", "2000")
    page.mouse.move(5, 5)
    wait_drawn_at_marker(annotator, colour)

    rbc = page.locator(".object-group").filter(has_text="RBC")
    expect(rbc.locator(".object-count")).to_have_text("1999 ✓ · 0 ?")
    assert rbc.locator(".object-row").count() == 200  # the rest are counted, not listed
    expect(rbc.locator(".object-more")).to_have_text("… 1799 more")

    scale0 = annotator.num("scale")
    page.mouse.move(*annotator.screen(360, 245))
    for _ in range(6):
        page.mouse.wheel(0, -100)
    annotator.wait_until("scale", lambda v: float(v) > scale0 * 1.7)
    page.mouse.move(5, 5)
    wait_drawn_at_marker(annotator, colour)
    page.keyboard.down(" ")
    page.mouse.move(900, 500)
    page.mouse.down()
    page.mouse.move(800, 450, steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    page.mouse.move(5, 5)
    wait_drawn_at_marker(annotator, colour)
    page.screenshot(path=artifact("annotator-2000-boxes-1920x1080.png"))

    # Editing among them still works: draw one more box, it is saved.
    annotator.draw(300, 320, 40, 30)
    annotator.wait_saved()
    annotator.wait_data("box-count", "2001")
    assert len(annotator.db_boxes(image, "accepted")) == 2001
