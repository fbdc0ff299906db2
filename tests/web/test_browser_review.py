"""Reviewing at speed and the objects panel, in a real Chromium against the real server.

The review order is best score first, then top to bottom; one key accepts the focused
proposal and focuses the next; Shift+A accepts every proposal at or above the slider; the
slider asks the server. The objects panel lists every box by label with its status and score,
highlights on hover, selects on click, and hides or locks a label.
"""

from __future__ import annotations

import pytest
from test_browser import EXEMPLAR_IMAGE, artifact, set_threshold
from test_browser_defects import api_boxes

pytestmark = pytest.mark.browser

PROPOSALS = [  # (x, y, score): the review order is by score, then y, then x
    (400, 300, 0.95),
    (100, 300, 0.70),
    (300, 50, 0.70),
    (50, 50, 0.40),
]


def add_proposals(annotator, image, rows=PROPOSALS, label="RBC"):
    return [
        annotator.api("POST", f"/images/{image}/boxes",
                      {"label": label, "x": x, "y": y, "w": 50, "h": 50, "status": "proposed",
                       "score": score, "source": "matcher"})["id"]
        for x, y, score in rows
    ]  # fmt: skip


def selected_box_id(annotator):
    return annotator.page.locator(".object-row[aria-selected='true']").get_attribute("data-box-id")


def test_review_order_accept_and_move_on(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    ids = add_proposals(annotator, image)
    annotator.open(image)
    page = annotator.page
    order = []
    for _ in ids:
        page.keyboard.press("Tab")
        annotator.wait_data("selected-count", "1")
        order.append(int(selected_box_id(annotator)))
    assert order == [ids[0], ids[2], ids[1], ids[3]]  # best first, then top to bottom

    page.keyboard.press("Escape")
    page.keyboard.press("a")  # nothing focused: focuses the best proposal, decides nothing
    annotator.wait_data("selected-count", "1")
    assert int(selected_box_id(annotator)) == ids[0]
    page.keyboard.press("a")  # accepts it and focuses the next in review order
    annotator.wait_saved()
    assert int(selected_box_id(annotator)) == ids[2]
    page.keyboard.press("x")
    annotator.wait_saved()
    assert int(selected_box_id(annotator)) == ids[1]
    status = {b["id"]: b["status"] for b in api_boxes(annotator, image)}
    assert status == {ids[0]: "accepted", ids[2]: "rejected", ids[1]: "proposed",
                      ids[3]: "proposed"}  # fmt: skip


def test_slider_asks_the_server_and_shift_a_accepts_above_it(annotator):
    from playwright.sync_api import expect

    image = annotator.image_id(EXEMPLAR_IMAGE)
    ids = add_proposals(annotator, image)
    annotator.open(image)
    page = annotator.page
    annotator.wait_data("proposed-count", "4")
    # Made elsewhere (another tab, a Propagate) after this page loaded:
    [late] = add_proposals(annotator, image, [(500, 400, 0.9)])
    requests = []
    page.on("request", lambda r: "min_score=" in r.url and requests.append(r.url))
    set_threshold(page, 0.6)
    annotator.wait_data("proposed-count", "5")  # the server's answer added the new one
    assert requests and "order=review" in requests[-1] and "status=proposed" in requests[-1]
    expect(page.locator("#annotator-message")).to_contain_text("score ≥ 0.60")
    annotator.wait_data("shown-count", "4")
    page.keyboard.press("Shift+A")
    annotator.wait_saved()
    status = {b["id"]: b["status"] for b in api_boxes(annotator, image)}
    assert status == {ids[0]: "accepted", ids[1]: "accepted", ids[2]: "accepted",
                      late: "accepted", ids[3]: "proposed"}  # fmt: skip


def test_objects_panel_lists_hovers_selects_hides_and_locks(annotator):
    from playwright.sync_api import expect

    image = annotator.image_id(EXEMPLAR_IMAGE)
    ids = add_proposals(annotator, image)
    wbc = annotator.api("POST", f"/images/{image}/boxes",
                        {"label": "WBC", "x": 200, "y": 150, "w": 120, "h": 100})  # fmt: skip
    annotator.open(image)
    page = annotator.page
    rbc_group = page.locator(".object-group").filter(has_text="RBC")
    wbc_group = page.locator(".object-group").filter(has_text="WBC")
    expect(rbc_group.locator(".object-count")).to_have_text("0 ✓ · 4 ?")
    expect(wbc_group.locator(".object-count")).to_have_text("1 ✓ · 0 ?")
    rows = rbc_group.locator(".object-row")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("0.95")  # best first

    row = page.locator(f".object-row[data-box-id='{wbc['id']}']")
    row.hover()
    page.wait_for_timeout(100)
    page.screenshot(path=artifact("objects-panel-hover.png"))
    row.click()
    annotator.wait_data("selected-count", "1")
    annotator.wait_data("selected-deliberate", "true")
    page.keyboard.press("3")  # a box selected in the panel is selected on purpose
    annotator.wait_saved()
    assert {b["id"]: b["label"] for b in api_boxes(annotator, image)}[wbc["id"]] == "Platelets"
    page.keyboard.press("Control+z")
    annotator.wait_saved()

    rbc_group.locator(".object-toggle", has_text="hide").click()
    annotator.wait_data("shown-count", "0")  # hidden proposals are not shown, not decided
    page.keyboard.press("Shift+A")
    annotator.wait_saved()
    assert {b["status"] for b in api_boxes(annotator, image) if b["id"] in ids} == {"proposed"}
    rbc_group.locator(".object-toggle", has_text="show").click()
    annotator.wait_data("shown-count", "4")

    wbc_group.locator(".object-toggle", has_text="lock").click()
    before = next(b for b in api_boxes(annotator, image) if b["id"] == wbc["id"])
    page.mouse.click(*annotator.screen(260, 200))  # a locked box cannot be selected
    annotator.wait_data("selected-count", "0")
    annotator.move_box((260, 200), (300, 240))  # nor moved: this drag draws instead
    annotator.wait_saved()
    after = next(b for b in api_boxes(annotator, image) if b["id"] == wbc["id"])
    assert (after["x"], after["y"], after["version"]) == (before["x"], before["y"],
                                                          before["version"])  # fmt: skip


def test_arrow_nudge_copy_paste_and_adjustments(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    box = annotator.api("POST", f"/images/{image}/boxes",
                        {"label": "WBC", "x": 200, "y": 150, "w": 120, "h": 100})  # fmt: skip
    annotator.open(image)
    page = annotator.page
    page.mouse.click(*annotator.screen(260, 200))
    annotator.wait_data("selected-deliberate", "true")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    annotator.wait_saved()
    moved = next(b for b in api_boxes(annotator, image) if b["id"] == box["id"])
    assert (moved["x"], moved["y"]) == (201, 160)
    assert page.url.endswith(f"/images/{image}")  # with a selection, arrows do not navigate

    page.keyboard.press("Control+c")
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight")  # nothing selected: the next image
    page.wait_for_url(f"**/images/{image + 1}")
    annotator.wait_ready()
    page.keyboard.press("Control+v")
    annotator.wait_data("box-count", "1")
    annotator.wait_saved()
    [pasted] = annotator.db_boxes(image + 1, "accepted")
    assert pasted[1:6] == ("WBC", 201, 160, 120, 100)

    for name, value in (("brightness", 1.5), ("contrast", 1.2)):
        page.locator(f"#adjust-{name}").fill(str(value))
    annotator.wait_data("image-filter", "brightness(1.5) contrast(1.2)")
    page.locator("#adjust-gamma").fill("2")
    annotator.wait_data("image-filter", "brightness(1.5) contrast(1.2) url(#gamma-filter)")
    assert page.locator("#gamma-filter feFuncR").get_attribute("exponent") == "0.5"
    page.screenshot(path=artifact("adjusted-image.png"))


def test_hotkeys_json_changes_keys_and_the_help(annotator):
    import json

    from playwright.sync_api import expect

    (annotator.ws.root / ".labeler" / "hotkeys.json").write_text(
        json.dumps({"done": ["Shift+d"], "accept": "q"})
    )
    ids = [annotator.image_id(EXEMPLAR_IMAGE)]
    [pid] = add_proposals(annotator, ids[0], [(100, 100, 0.9)])
    annotator.open(ids[0])
    page = annotator.page
    page.keyboard.press("Tab")
    page.keyboard.press("q")
    annotator.wait_saved()
    assert api_boxes(annotator, ids[0])[0]["status"] == "accepted"
    page.keyboard.press("?")
    expect(page.locator("#help-table tr[data-action='done'] th")).to_have_text("Shift+D")
    expect(page.locator("#help-table tr[data-action='accept'] th")).to_have_text("Q")
    page.keyboard.press("Escape")
    page.keyboard.press("d")  # no longer Done
    page.wait_for_timeout(300)
    assert annotator.api("GET", f"/images/{ids[0]}")["state"] == "in_progress"
    page.keyboard.press("Shift+D")
    page.wait_for_url(lambda url: not url.endswith(f"/images/{ids[0]}"))
    assert annotator.api("GET", f"/images/{ids[0]}")["state"] == "done"


def test_broken_hotkeys_json_says_so_and_keeps_defaults(annotator):
    from playwright.sync_api import expect

    (annotator.ws.root / ".labeler" / "hotkeys.json").write_text("{not json")
    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    expect(annotator.page.locator("#annotator-message")).to_contain_text(".labeler/hotkeys.json")
    annotator.page.keyboard.press("2")
    annotator.wait_data("current-label", "WBC")


def test_jump_to_image_and_grid_box_counts(annotator):
    from playwright.sync_api import expect

    page = annotator.page
    image = annotator.image_id(EXEMPLAR_IMAGE)
    add_proposals(annotator, image, PROPOSALS[:2])
    annotator.api("POST", f"/images/{image}/boxes",
                  {"label": "WBC", "x": 200, "y": 150, "w": 120, "h": 100})  # fmt: skip
    annotator.open(image)
    page.keyboard.press("g")
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    annotator.wait_ready()
    expect(page.locator("#image-position")).to_contain_text("Image 5 of")
    page.keyboard.press("g")
    page.keyboard.type(EXEMPLAR_IMAGE)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/images/{image}")
    annotator.wait_ready()

    dataset = annotator.api("GET", "/datasets")[0]["id"]
    page.goto(f"{annotator.url}/datasets/{dataset}")
    counts = page.locator(f".thumb[data-image-id='{image}'] .box-counts")
    expect(counts).to_have_text("1 box · 2 waiting")
    # Let the lazy thumbnails finish: a connection dropped mid-file leaves werkzeug's file open.
    page.wait_for_load_state("networkidle")


def test_a_digit_after_accepting_does_not_relabel_the_next_proposal(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    ids = add_proposals(annotator, image, PROPOSALS[:2])
    annotator.open(image)
    page = annotator.page
    page.keyboard.press("Tab")  # picked on purpose
    page.keyboard.press("a")  # accepted; focus moves on for the user
    annotator.wait_data("selected-deliberate", "false")
    page.keyboard.press("2")  # the label of the next drawn box
    annotator.wait_data("current-label", "WBC")
    annotator.wait_saved()
    assert {b["id"]: b["label"] for b in api_boxes(annotator, image)}[ids[1]] == "RBC"
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # back on it on purpose: now a digit relabels it
    annotator.wait_data("selected-deliberate", "true")
    page.keyboard.press("3")
    annotator.wait_saved()
    assert {b["id"]: b["label"] for b in api_boxes(annotator, image)}[ids[1]] == "Platelets"
