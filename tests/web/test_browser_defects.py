"""The annotator defects of issue 11, each driven in a real Chromium against the real server.

Every test failed on the annotator before the fix: the digit relabelled the box just drawn,
a drag inside the selected box moved it, the stage sat in a fixed column and did not refit,
wheel notches jumped, drawing stopped at the canvas edge, nothing said "image N of M", the
badge lagged the server, boxes had no captions and proposals looked like accepted boxes,
drawing over a proposal duplicated it, and Copy previous said nothing about its source.
"""

from __future__ import annotations

import pytest
from test_browser import EXEMPLAR_IMAGE, artifact, image_ids

pytestmark = pytest.mark.browser


def api_boxes(annotator, image):
    return annotator.api("GET", f"/images/{image}")["boxes"]


def test_digit_sets_the_label_of_the_next_box(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    keys = annotator.page.keyboard
    keys.press("1")
    annotator.draw(100, 100, 60, 60)
    annotator.wait_data("box-count", "1")
    keys.press("2")  # meant for the next box: the box just drawn keeps label 1
    annotator.wait_data("current-label", "WBC")
    annotator.draw(300, 100, 60, 60)
    annotator.wait_data("box-count", "2")
    annotator.wait_saved()
    boxes = sorted(api_boxes(annotator, image), key=lambda b: b["x"])
    assert [(round(b["x"]), b["label"]) for b in boxes] == [(100, "RBC"), (300, "WBC")]

    # A box the user selects on purpose is relabelled by a digit.
    annotator.page.mouse.click(*annotator.screen(120, 120))
    annotator.wait_data("selected-deliberate", "true")
    keys.press("3")
    annotator.wait_saved()
    boxes = sorted(api_boxes(annotator, image), key=lambda b: b["x"])
    assert [b["label"] for b in boxes] == ["Platelets", "WBC"]


def test_drag_inside_the_selected_box_draws_and_alt_drag_moves(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    annotator.draw(100, 100, 200, 160)
    annotator.wait_saved()
    annotator.page.mouse.click(*annotator.screen(150, 150))
    annotator.wait_data("selected-deliberate", "true")
    annotator.draw(140, 130, 60, 50)  # starts inside the selected box: a second box
    annotator.wait_data("box-count", "2")
    annotator.wait_saved()
    rows = sorted(annotator.db_boxes(image), key=lambda r: r[4] * r[5])
    assert [r[2:6] for r in rows] == [
        pytest.approx((140, 130, 60, 50), abs=1.5),
        pytest.approx((100, 100, 200, 160), abs=1.5),
    ]
    annotator.move_box((250, 230), (270, 240))  # Alt+drag moves the box under the pointer
    annotator.wait_saved()
    big = max(annotator.db_boxes(image), key=lambda r: r[4] * r[5])
    assert big[2:6] == pytest.approx((120, 110, 200, 160), abs=1.5)


def stage_fits(annotator):
    """The canvas's page box, and whether the whole image is inside it."""
    canvas = annotator.page.locator("#annotator-canvas").bounding_box()
    side = annotator.page.locator(".annotator-side").bounding_box()
    scale = annotator.num("scale")
    x0, y0 = annotator.screen(0, 0)
    x1, y1 = annotator.screen(640, 480)
    inside = (
        x0 >= canvas["x"] - 0.5
        and y0 >= canvas["y"] - 0.5
        and x1 <= canvas["x"] + canvas["width"] + 0.5
        and y1 <= canvas["y"] + canvas["height"] + 0.5
    )
    return canvas, side, scale, inside


def test_layout_fills_the_window_and_refits_on_resize(annotator):
    page = annotator.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    canvas, side, scale_big, inside = stage_fits(annotator)
    assert inside
    # The image area takes the full width beside the side panel, and most of the height.
    assert canvas["x"] < 20 and side["x"] - (canvas["x"] + canvas["width"]) < 16
    assert side["x"] + side["width"] > 1920 - 20
    assert canvas["width"] > 1920 - side["width"] - 40 and canvas["height"] > 1080 * 0.8
    page.screenshot(path=artifact("annotator-1920x1080.png"))

    page.set_viewport_size({"width": 1280, "height": 720})
    annotator.wait_until("canvas-width", lambda v: v and int(v) < canvas["width"] - 500)
    annotator.wait_until("scale", lambda v: float(v) < scale_big)
    canvas, side, scale, inside = stage_fits(annotator)
    assert inside and side["x"] - (canvas["x"] + canvas["width"]) < 16
    # Refitted: the image touches two sides of the stage (within the 10 px margin).
    assert min(canvas["width"] - 640 * scale, canvas["height"] - 480 * scale) < 22
    page.screenshot(path=artifact("annotator-1280x720.png"))

    page.set_viewport_size({"width": 900, "height": 600})
    annotator.wait_until("canvas-width", lambda v: v and int(v) < 700)
    annotator.wait_until("scale", lambda v: float(v) < scale)
    *_, inside = stage_fits(annotator)
    assert inside  # not cropped
    for action in ("done", "undo", "empty", "redo"):
        b = page.locator(f".annotator-tools [data-action='{action}']").bounding_box()
        assert b and b["y"] >= 0 and b["y"] + b["height"] <= 600, action
    page.screenshot(path=artifact("annotator-900x600.png"))


def test_wheel_zooms_gently_and_the_zoom_is_shown(annotator):
    from playwright.sync_api import expect

    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    page = annotator.page
    scale0 = annotator.num("scale")
    expect(page.locator("#zoom-level")).to_have_text(f"{round(scale0 * 100)}%")
    page.mouse.move(*annotator.screen(320, 240))
    for _ in range(4):
        page.mouse.wheel(0, -250)  # four notches of a coarse mouse
    annotator.wait_until("scale", lambda v: float(v) > scale0 * 1.4)
    page.wait_for_timeout(200)  # every wheel event has been handled
    ratio = annotator.num("scale") / scale0
    assert ratio == pytest.approx(1.1**4, rel=0.02)
    expect(page.locator("#zoom-level")).to_have_text(f"{round(annotator.num('scale') * 100)}%")


def test_drawing_past_the_canvas_edge_pans_and_clamps(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    page = annotator.page
    for _ in range(4):
        page.keyboard.press("+")
    canvas = page.locator("#annotator-canvas").bounding_box()
    right_edge = annotator.image_at(canvas["x"] + canvas["width"], 0)[0]  # image x at the edge
    assert right_edge < 600
    start = annotator.screen(right_edge - 40, 240)
    ox = annotator.num("offset-x")
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(canvas["x"] + canvas["width"] + 60, start[1] + 40, steps=4)  # past the edge
    annotator.wait_until("offset-x", lambda v: float(v) < ox - 150)  # the view pans along
    page.mouse.up()
    annotator.wait_saved()
    [(_, _, x, y, w, h, _)] = annotator.db_boxes(image)
    assert x == pytest.approx(right_edge - 40, abs=2)
    assert x + w > right_edge + 20  # drawn past what was on screen
    assert x + w <= 640  # and clamped to the image


def test_progress_position_badge_and_marked_done_persist(annotator):
    from playwright.sync_api import expect

    ws = annotator.ws
    ids = image_ids(ws)
    page = annotator.page
    annotator.api("POST", f"/images/{ids[2]}/boxes",
                  {"label": "RBC", "x": 10, "y": 10, "w": 50, "h": 50, "status": "proposed",
                   "score": 0.9})  # fmt: skip
    annotator.open(ids[2])
    expect(page.locator("#image-position")).to_have_text(f"Image 3 of {len(ids)}")
    expect(page.locator("#dataset-progress")).to_contain_text(f"0/{len(ids)} finished")
    expect(page.locator("#image-state")).to_have_text("new")
    page.keyboard.press("Tab")
    page.keyboard.press("a")  # accepting a proposal puts the image in progress on the server
    annotator.wait_saved()
    assert annotator.api("GET", f"/images/{ids[2]}")["state"] == "in_progress"
    expect(page.locator("#image-state")).to_have_text("in progress")
    page.keyboard.press("d")
    page.wait_for_url(f"**/images/{ids[3]}")
    annotator.wait_ready()
    message = page.locator("#annotator-message")
    expect(message).to_contain_text("Marked BloodImage")
    expect(message).to_contain_text("done")
    expect(page.locator("#dataset-progress")).to_contain_text(f"1/{len(ids)} finished")
    page.wait_for_timeout(300)
    expect(message).to_contain_text("done")  # not an 8-second info toast


def top_edge_colours(page, x, y, w):
    """The RGB colours along a box's top edge on the canvas (CSS px = device px here)."""
    return page.locator("#annotator-canvas").evaluate(
        """(c, [x, y, w]) => {
            const d = c.getContext('2d').getImageData(x, y, w, 1).data;
            const out = [];
            for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2]]);
            return out;
        }""",
        [round(x), round(y), round(w)],
    )


def canvas_origin(annotator, x, y):
    box = annotator.page.locator("#annotator-canvas").bounding_box()
    px, py = annotator.screen(x, y)
    return px - box["x"], py - box["y"]


def near(c, rgb, tol=40):
    return all(abs(a - b) <= tol for a, b in zip(c, rgb, strict=True))


def tinted(c, colour):
    """``c`` is ``colour``, possibly blended with the dark halo (an edge straddling rows)."""
    k = max(c) / max(colour)
    return 0.4 <= k <= 1.1 and near(c, tuple(v * k for v in colour), 20)


def whitish(c):
    return min(c) > 150 and max(c) - min(c) < 30


def test_boxes_have_captions_and_proposals_look_different(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    for x, status in ((100, "accepted"), (350, "proposed")):
        annotator.api("POST", f"/images/{image}/boxes",
                      {"label": "WBC", "x": x, "y": 200, "w": 150, "h": 150, "status": status,
                       "score": 0.81})  # fmt: skip
    wbc = next(
        lab for lab in annotator.api("GET", "/datasets")[0]["labels"] if lab["name"] == "WBC"
    )
    colour = tuple(int(wbc["colour"][i : i + 2], 16) for i in (1, 3, 5))
    annotator.open(image)
    page = annotator.page
    page.mouse.move(5, 5)  # no crosshair over the boxes
    page.wait_for_timeout(100)
    scale = annotator.num("scale")

    def edge_rows(x):
        # The 2 px line may straddle pixel rows: look at the rows around its centre.
        cx, cy = canvas_origin(annotator, x, 200)
        return [top_edge_colours(page, cx + 20, cy + d, 150 * scale - 40) for d in (-1, 0, 1)]

    accepted, proposed = edge_rows(100), edge_rows(350)
    assert any(all(tinted(c, colour) for c in row) for row in accepted)
    assert not any(whitish(c) for row in accepted for c in row)
    assert any(whitish(c) for row in proposed for c in row)  # white dashes: not the same look
    assert any(tinted(c, colour) for row in proposed for c in row)
    # An unselected box carries its label on a dark tag above it (white text on it).
    cx, cy = canvas_origin(annotator, 100, 200)
    tag = top_edge_colours(page, cx + 8, cy - 8, 40)
    assert sum(max(c) < 60 for c in tag) > 5 and any(min(c) > 200 for c in tag)
    page.screenshot(path=artifact("captions-proposed-vs-accepted.png"))


def test_drawing_over_a_proposal_accepts_it_instead_of_duplicating(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    proposal = annotator.api("POST", f"/images/{image}/boxes",
                             {"label": "RBC", "x": 200, "y": 150, "w": 90, "h": 90,
                              "status": "proposed", "score": 0.6, "source": "matcher"})  # fmt: skip
    annotator.open(image)
    annotator.page.keyboard.press("2")  # drawn as WBC
    annotator.draw(205, 145, 95, 92)
    annotator.wait_saved()
    [box] = api_boxes(annotator, image)
    assert box["id"] == proposal["id"]  # the proposal itself, no second box
    assert (box["status"], box["label"]) == ("accepted", "WBC")
    assert (box["x"], box["y"], box["w"], box["h"]) == pytest.approx((205, 145, 95, 92), abs=1.5)
    annotator.page.keyboard.press("Control+z")
    annotator.wait_saved()
    [box] = api_boxes(annotator, image)
    assert (box["status"], box["label"], box["x"]) == ("proposed", "RBC", 200)


def test_copy_previous_names_its_source(annotator):
    from playwright.sync_api import expect

    ids = image_ids(annotator.ws)
    annotator.api("POST", f"/images/{ids[0]}/boxes",
                  {"label": "WBC", "x": 10, "y": 20, "w": 60, "h": 50})  # fmt: skip
    source = annotator.api("GET", f"/images/{ids[0]}")["path"]
    annotator.open(ids[1])
    button = annotator.page.locator("#copy-previous")
    expect(button).to_contain_text(source)
    annotator.page.keyboard.press("c")
    message = annotator.page.locator("#annotator-message")
    expect(message).to_contain_text(
        f"Copied 1 accepted box(es) (WBC) from the previous image, {source}"
    )
    annotator.wait_saved()
    assert len(annotator.db_boxes(ids[1], "accepted")) == 1


def test_completeness_says_not_started_for_opened_images(annotator):
    from playwright.sync_api import expect

    ids = image_ids(annotator.ws)
    annotator.open(ids[0])  # opened, nothing accepted: still "new", and now called so
    page = annotator.page
    page.goto(f"{annotator.url}/completeness")
    counts = page.locator(".completeness .counts").first
    expect(counts).to_contain_text(f"{len(ids)} not started")
    assert "never opened" not in page.content()


def test_minimap_shows_when_zoomed_and_click_moves_the_view(annotator):
    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    page = annotator.page
    annotator.wait_data("minimap", "0")  # the whole image is on screen: no minimap
    for _ in range(5):
        page.keyboard.press("+")
    annotator.wait_data("minimap", "1")
    canvas = page.locator("#annotator-canvas").bounding_box()
    # The minimap is the bottom-right 180 px (640x480: 180x135) inside a 10 px margin.
    right, bottom = canvas["x"] + canvas["width"] - 10, canvas["y"] + canvas["height"] - 10
    page.mouse.click(right - 180 + 18, bottom - 135 + 13.5)  # image point (64, 48)
    centre = annotator.image_at(
        canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    )
    assert centre == pytest.approx((64, 48), abs=4)
    annotator.wait_data("box-count", "0")  # a click on the minimap never draws
    page.screenshot(path=artifact("minimap.png"))


def test_a_message_never_resizes_the_stage(annotator):
    from playwright.sync_api import expect

    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    page = annotator.page
    before = page.locator("#annotator-canvas").bounding_box()
    scale = annotator.data("scale")
    page.keyboard.press("a")  # nothing to accept: says so
    expect(page.locator("#annotator-message")).to_contain_text("no proposals are shown")
    page.wait_for_timeout(100)  # a resize would have been observed and refitted by now
    assert page.locator("#annotator-canvas").bounding_box() == before
    assert annotator.data("scale") == scale


def test_finishing_the_last_image_counts_it_and_stays(annotator):
    from playwright.sync_api import expect
    from sqlalchemy import update

    from labeler.store.models import Image

    ids = image_ids(annotator.ws)
    with annotator.ws.sessions.begin() as s:
        s.execute(update(Image).where(Image.id != ids[5]).values(state="done"))
    annotator.open(ids[5])
    page = annotator.page
    expect(page.locator("#dataset-progress")).to_contain_text(f"{len(ids) - 1}/{len(ids)} finished")
    page.keyboard.press("e")
    message = page.locator("#annotator-message")
    expect(message).to_contain_text("No unfinished images left")
    expect(page.locator("#dataset-progress")).to_contain_text(f"{len(ids)}/{len(ids)} finished")
    expect(page.locator("#image-state")).to_have_text("empty")
    assert page.url.endswith(f"/images/{ids[5]}")
