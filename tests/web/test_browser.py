"""The annotator in a real headless Chromium against the real server and database.

Every test reads the page through its public ``data-*`` state and checks the database (or
the JSON API) too, so "the page says saved" and "it is saved" are both asserted.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import ARTIFACTS, DEMO

pytestmark = pytest.mark.browser

EXEMPLAR_IMAGE = "BloodImage_00335.jpg"
RBC = (519.0, 104.0, 92.0, 102.0)  # an RBC in EXEMPLAR_IMAGE (datasets/demo/exemplars.json)


def artifact(name):
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


def image_ids(ws, dataset="demo"):
    from sqlalchemy import select

    from labeler.store.models import Dataset, Image

    with ws.sessions() as s:
        q = select(Image.id).join(Dataset).where(Dataset.name == dataset).order_by(Image.id)
        return list(s.scalars(q))


def image_state(ws, image_id):
    from labeler.store.models import Image

    with ws.sessions() as s:
        return s.get(Image, image_id).state


def geometry(row):
    return row[2:6]


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
    annotator.wait_data("current-label", "Platelets")
    annotator.draw(*RBC)
    annotator.wait_saved()
    annotator.wait_data("box-count", "1")
    page.keyboard.press("1")  # the label of the next box: the new box stays Platelets
    annotator.wait_data("current-label", "RBC")
    annotator.wait_saved()
    [(_, label, *_)] = annotator.db_boxes(image)
    assert label == "Platelets"
    page.mouse.click(*annotator.screen(RBC[0] + 20, RBC[1] + 20))  # selected on purpose
    annotator.wait_data("selected-deliberate", "true")
    page.keyboard.press("1")  # relabels the box the user selected
    annotator.wait_saved()
    [(_, label, x, y, w, h, status)] = annotator.db_boxes(image)
    assert (label, status) == ("RBC", "accepted")
    assert (x, y, w, h) == pytest.approx(RBC, abs=2)

    page.keyboard.press("f")
    annotator.wait_until("proposed-count", lambda v: v and int(v) >= 2)
    annotator.wait_saved()
    proposed = int(annotator.data("proposed-count"))
    assert len(annotator.db_boxes(image, "proposed")) == proposed

    page.keyboard.press("Tab")
    annotator.wait_data("selected-count", "1")
    page.keyboard.press("a")
    annotator.wait_saved()
    annotator.wait_data("box-count", "2")
    page.keyboard.press("Tab")
    page.keyboard.press("x")
    annotator.wait_saved()
    annotator.wait_data("rejected-count", "1")
    page.keyboard.press("Shift+A")
    annotator.wait_saved()
    accepted = proposed + 1 - 1  # the drawn box, plus every proposal but the rejected one
    annotator.wait_data("box-count", str(accepted))
    annotator.wait_data("proposed-count", "0")
    page.screenshot(path=artifact("find-similar-accepted.png"))

    page.reload()
    page.wait_for_selector("#annotator[data-ready='1']")
    annotator.wait_data("box-count", str(accepted))
    assert len(annotator.db_boxes(image, "accepted")) == accepted
    api = annotator.api("GET", f"/images/{image}")
    assert sum(b["status"] == "accepted" for b in api["boxes"]) == accepted
    assert api["state"] == "in_progress"


def test_undo_find_similar_restores_the_proposals_it_replaced(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    page = annotator.page
    annotator.draw(*RBC)
    annotator.wait_saved()
    page.keyboard.press("f")
    annotator.wait_until("proposed-count", lambda v: v and int(v) > 0)
    annotator.wait_saved()
    first = sorted((round(x), round(y)) for _, _, x, y, *_ in annotator.db_boxes(image, "proposed"))

    page.keyboard.press("f")  # the server replaces the first run's proposals with new rows
    annotator.wait_saved()
    annotator.wait_until("undo-count", lambda v: v and int(v) >= 3)
    page.keyboard.press("Control+z")  # undo the second run: the first run's proposals return
    annotator.wait_saved()
    annotator.wait_data("proposed-count", str(len(first)))
    again = sorted((round(x), round(y)) for _, _, x, y, *_ in annotator.db_boxes(image, "proposed"))
    assert again == first


def test_find_similar_says_how_many_more_the_label_must_earn(annotator, monkeypatch):
    """A label with nothing accepted yet is shown EARN_BASE proposals per press; the rest
    worth showing are held back, and the message says so instead of hiding them."""
    from labeler.prelabel.learning import EARN_BASE

    monkeypatch.setenv("LABELER_SHOW_MARGIN", "-50")  # every candidate promises a saving
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    annotator.draw(100, 100, 12, 12)
    annotator.wait_saved()
    annotator.page.keyboard.press("f")
    annotator.wait_data("proposed-count", str(EARN_BASE))
    message = annotator.page.locator("#annotator-message")
    message.filter(has_text="found").wait_for()
    assert re.fullmatch(
        rf"{EARN_BASE} proposal\(s\) found\. \d+ more after you accept some of these\.",
        message.text_content(),
    )


def test_undo_redo_create_move_resize_delete(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    keys = annotator.page.keyboard

    def only_box():
        rows = annotator.db_boxes(image)
        assert len(rows) == 1, rows
        return rows[0]

    def settle():
        annotator.wait_saved()
        return only_box()

    annotator.draw(100, 100, 80, 60)
    assert geometry(settle()) == pytest.approx((100, 100, 80, 60), abs=1.5)
    annotator.move_box((140, 130), (190, 170))  # Alt+drag moves by (+50, +40)
    assert geometry(settle()) == pytest.approx((150, 140, 80, 60), abs=1.5)
    annotator.drag((230, 200), (260, 230))  # the bottom-right handle
    assert geometry(settle()) == pytest.approx((150, 140, 110, 90), abs=1.5)

    keys.press("Control+z")
    assert geometry(settle()) == pytest.approx((150, 140, 80, 60), abs=1.5)
    keys.press("Control+z")
    assert geometry(settle()) == pytest.approx((100, 100, 80, 60), abs=1.5)
    keys.press("Control+z")
    annotator.wait_saved()
    assert annotator.db_boxes(image) == []
    annotator.wait_data("box-count", "0")
    keys.press("Control+Shift+z")  # redo the create: a new box on the server
    assert geometry(settle()) == pytest.approx((100, 100, 80, 60), abs=1.5)

    annotator.page.mouse.click(*annotator.screen(140, 130))
    annotator.wait_data("selected-count", "1")
    keys.press("Delete")
    annotator.wait_saved()
    assert annotator.db_boxes(image) == []
    keys.press("Control+z")  # undo the delete: re-created with the same geometry and label
    row = settle()
    assert row[1] == "RBC" and geometry(row) == pytest.approx((100, 100, 80, 60), abs=1.5)


CONFLICTS = {
    "move": lambda a: a.move_box((140, 130), (160, 150)),  # PATCH with the stale version
    "delete": lambda a: a.page.keyboard.press("Delete"),  # DELETE ?version=stale
    "accept": lambda a: a.page.keyboard.press("a"),  # POST /boxes/decide with versions
}


@pytest.mark.parametrize("edit", sorted(CONFLICTS))
def test_conflict_reloads_and_says_so(annotator, edit):
    from playwright.sync_api import expect

    image = annotator.image_id(EXEMPLAR_IMAGE)
    status = "proposed" if edit == "accept" else "accepted"
    created = annotator.api(
        "POST", f"/images/{image}/boxes",
        {"label": "RBC", "x": 100, "y": 100, "w": 80, "h": 60, "status": status, "score": 0.9},
    )  # fmt: skip
    annotator.open(image)
    annotator.page.mouse.click(*annotator.screen(140, 130))
    annotator.wait_data("selected-count", "1")
    # Another tab moves the box; this page still holds the old version.
    annotator.api("PATCH", f"/boxes/{created['id']}", {"x": 300, "y": 200, "version": 1})
    CONFLICTS[edit](annotator)
    expect(annotator.page.locator("#annotator-message")).to_have_text(
        "Changed elsewhere, reloaded."
    )
    annotator.wait_saved()
    [(_, _, x, y, w, h, db_status)] = annotator.db_boxes(image)
    assert (x, y, w, h, db_status) == (300, 200, 80, 60, status)  # the other tab's edit stands
    annotator.page.mouse.click(*annotator.screen(340, 230))  # the reloaded box is where it is
    annotator.wait_data("selected-count", "1")
    annotator.page.screenshot(path=artifact(f"conflict-{edit}-reloaded.png"))


@pytest.mark.parametrize(
    ("key", "status"),
    [("a", "accepted"), ("Enter", "accepted"), ("x", "rejected"), ("Backspace", "rejected")],
)
def test_decide_keys_and_tab_order(annotator, key, status):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    ids = [
        annotator.api("POST", f"/images/{image}/boxes",
                      {"label": "WBC", "x": x, "y": 50, "w": 40, "h": 40,
                       "status": "proposed", "score": 0.8})["id"]
        for x in (300, 100)
    ]  # fmt: skip
    annotator.open(image)
    page = annotator.page
    page.keyboard.press("Tab")  # reading order: the left one (second created) first
    page.keyboard.press(key)
    annotator.wait_saved()
    statuses = {row[0]: row[6] for row in annotator.db_boxes(image)}
    assert statuses == {ids[1]: status, ids[0]: "proposed"}
    annotator.wait_data("selected-count", "1")  # moved on to the next proposal
    page.keyboard.press(key)
    annotator.wait_saved()
    assert {row[6] for row in annotator.db_boxes(image)} == {status}
    page.keyboard.press("Control+z")
    annotator.wait_saved()
    assert {row[0]: row[6] for row in annotator.db_boxes(image)}[ids[0]] == "proposed"


def test_undo_delete_of_a_proposal_restores_it_as_it_was(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    spec = {"label": "WBC", "x": 300.5, "y": 50.25, "w": 40, "h": 40, "status": "proposed",
            "score": 0.73, "source": "matcher"}  # fmt: skip
    annotator.api("POST", f"/images/{image}/boxes", spec)
    annotator.open(image)
    page = annotator.page
    page.keyboard.press("Tab")
    page.keyboard.press("Delete")
    annotator.wait_saved()
    assert annotator.db_boxes(image) == []
    page.keyboard.press("Control+z")
    annotator.wait_saved()
    [box] = annotator.api("GET", f"/images/{image}")["boxes"]
    assert {k: box[k] for k in spec} == spec


def test_mark_done_empty_and_navigate(annotator):
    ws = annotator.ws
    ids = image_ids(ws)
    page = annotator.page
    annotator.open(ids[0])
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/images/{ids[1]}")
    annotator.wait_ready()
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/images/{ids[0]}")
    annotator.wait_ready()

    annotator.draw(50, 50, 40, 40)
    page.keyboard.press("d")
    page.wait_for_url(f"**/images/{ids[1]}")
    annotator.wait_ready()
    assert image_state(ws, ids[0]) == "done"
    assert len(annotator.db_boxes(ids[0], "accepted")) == 1  # the edit was saved first

    page.keyboard.press("e")
    page.wait_for_url(f"**/images/{ids[2]}")
    annotator.wait_ready()
    assert image_state(ws, ids[1]) == "empty"

    # "No objects" on an image with a box is refused, and the page stays put.
    annotator.draw(50, 50, 40, 40)
    annotator.wait_saved()
    page.keyboard.press("e")
    from playwright.sync_api import expect

    expect(page.locator("#annotator-message")).to_contain_text("accepted box")
    assert page.url.endswith(f"/images/{ids[2]}")
    assert image_state(ws, ids[2]) == "in_progress"


EVIL = "<img src=x onerror=alert(1)>"


def test_label_editor_and_xss_label_is_text(annotator):
    from playwright.sync_api import expect

    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    page = annotator.page
    page.click(".label-editor summary")
    page.fill("#label-add input[name=name]", EVIL)
    page.click("#label-add button[type=submit]")
    picker = page.locator("#label-list")
    expect(picker).to_contain_text(EVIL)
    assert picker.locator("img").count() == 0
    annotator.wait_data("current-label", EVIL)

    annotator.draw(100, 100, 50, 50)
    annotator.wait_saved()
    assert [r[1] for r in annotator.db_boxes(image)] == [EVIL]

    dataset_id = annotator.api("GET", "/datasets")[0]["id"]
    labels = annotator.api("GET", f"/datasets/{dataset_id}/labels")
    wbc = next(lab for lab in labels if lab["name"] == "WBC")
    row = page.locator(f".label-edit-row[data-label-id='{wbc['id']}']")
    row.locator("input[type=text]").fill("Leukocyte")
    row.locator("input[type=text]").press("Enter")  # change event
    expect(picker).to_contain_text("Leukocyte")
    row.locator("input[type=color]").fill("#00ff00")
    expect(page.locator("#annotator-message")).to_contain_text("Label saved: Leukocyte (#00ff00)")
    labels = {lab["id"]: lab for lab in annotator.api("GET", f"/datasets/{dataset_id}/labels")}
    assert (labels[wbc["id"]]["name"], labels[wbc["id"]]["colour"]) == ("Leukocyte", "#00ff00")

    page.reload()  # the name now comes from the server-rendered page
    annotator.wait_ready()
    expect(picker).to_contain_text(EVIL)
    assert page.locator("img").count() == 0
    page.keyboard.press("4")  # the new label got the next free hotkey
    annotator.wait_data("current-label", EVIL)
    page.screenshot(path=artifact("xss-label.png"))


def test_help_lists_every_shortcut(annotator):
    from playwright.sync_api import expect

    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    page = annotator.page
    overlay = page.locator("#help-overlay")
    expect(overlay).to_be_hidden()
    page.keyboard.press("?")
    expect(overlay).to_be_visible()
    for text in ("Find similar", "Propagate", "Undo", "Redo", "Accept all shown",
                 "Copy the previous", "Mark done", "no objects", "Next image", "Fit"):  # fmt: skip
        expect(overlay).to_contain_text(text)
    assert overlay.locator("tr").count() >= 25
    page.screenshot(path=artifact("help-overlay.png"))
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()


def test_copy_previous_image_boxes(annotator):
    ids = image_ids(annotator.ws)
    for x in (10, 200):
        annotator.api("POST", f"/images/{ids[0]}/boxes",
                      {"label": "WBC", "x": x, "y": 20, "w": 60, "h": 50})  # fmt: skip
    proposal = {"label": "RBC", "x": 5, "y": 5, "w": 9, "h": 9, "status": "proposed"}
    annotator.api("POST", f"/images/{ids[0]}/boxes", proposal)  # proposals are not copied
    annotator.open(ids[1])
    annotator.page.keyboard.press("c")
    annotator.wait_data("box-count", "2")
    annotator.wait_saved()
    copied = annotator.db_boxes(ids[1], "accepted")
    assert sorted((r[1], *geometry(r)) for r in copied) == [
        ("WBC", 10, 20, 60, 50), ("WBC", 200, 20, 60, 50)
    ]  # fmt: skip
    annotator.page.keyboard.press("Control+z")
    annotator.wait_saved()
    # Undo removes the copies; the image may still hold its opening proposals (issue 10).
    assert annotator.db_boxes(ids[1], "accepted") == []
    assert all(r[-1] == "proposed" for r in annotator.db_boxes(ids[1]))


def set_threshold(page, value):
    page.locator("#threshold").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        str(value),
    )


def find_rbcs(annotator):
    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    annotator.draw(*RBC)
    annotator.page.keyboard.press("f")
    # The flows below need a few proposals; how many one exemplar finds is the matcher's
    # business (tests/test_matching*.py), not the page's.
    annotator.wait_until("proposed-count", lambda v: v and int(v) >= 2)
    annotator.wait_saved()
    return image


def test_threshold_hides_low_scores_and_reject_shown(annotator):
    image = find_rbcs(annotator)
    page = annotator.page
    total = int(annotator.data("proposed-count"))
    scores = sorted(b["score"] for b in annotator.api("GET", f"/images/{image}")["boxes"]
                    if b["status"] == "proposed")  # fmt: skip
    cut = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    set_threshold(page, cut)
    shown = sum(sc >= cut for sc in scores)
    annotator.wait_data("shown-count", shown)
    assert 0 < shown < total
    page.keyboard.press("Shift+X")
    annotator.wait_saved()
    assert len(annotator.db_boxes(image, "rejected")) == shown
    assert len(annotator.db_boxes(image, "proposed")) == total - shown  # hidden: untouched
    annotator.wait_data("shown-count", "0")
    page.keyboard.press("h")  # rejected boxes can be shown faintly
    assert page.locator("#show-rejected").is_checked()
    set_threshold(page, 0)
    annotator.wait_data("shown-count", total - shown)
    page.screenshot(path=artifact("threshold.png"))


def test_propagate_runs_a_job_with_progress(annotator):
    image = find_rbcs(annotator)
    page = annotator.page
    page.select_option("#propagate-scope", "next")
    page.fill("#propagate-n", "2")
    page.locator("#annotator-canvas").focus()
    page.keyboard.press("p")
    annotator.wait_data("job-status", "done")
    from playwright.sync_api import expect

    expect(page.locator("#propagate-progress")).to_be_visible()
    expect(page.locator("#annotator-message")).to_contain_text("Propagated to 2 of 2")
    ids = image_ids(annotator.ws)
    others = [i for i in ids if i > image][:2]
    assert all(annotator.db_boxes(i, "proposed") for i in others)


def test_zoom_around_cursor_pan_and_fit(annotator):
    annotator.open(annotator.image_id(EXEMPLAR_IMAGE))
    page = annotator.page
    scale0 = annotator.num("scale")
    px, py = (round(v) for v in annotator.screen(320, 240))  # wheel positions are whole px
    under = annotator.image_at(px, py)
    page.mouse.move(px, py)
    for _ in range(5):
        page.mouse.wheel(0, -100)
    annotator.wait_until("scale", lambda v: float(v) > scale0 * 1.5)
    assert annotator.image_at(px, py) == pytest.approx(under, abs=0.5)  # cursor point fixed

    ox, oy = annotator.num("offset-x"), annotator.num("offset-y")
    page.keyboard.down(" ")
    page.mouse.move(px, py)
    page.mouse.down()
    page.mouse.move(px - 100, py - 50, steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    assert (annotator.num("offset-x"), annotator.num("offset-y")) == pytest.approx(
        (ox - 100, oy - 50), abs=1.0
    )
    page.mouse.move(px, py)
    page.mouse.down(button="middle")
    page.mouse.move(px + 30, py + 30, steps=3)
    page.mouse.up(button="middle")
    assert annotator.num("offset-x") == pytest.approx(ox - 70, abs=1.0)
    page.wait_for_timeout(300)  # a drawn box would be counted by the next frame
    assert annotator.data("box-count") == "0"  # panning never draws
    page.keyboard.press("0")
    annotator.wait_data("scale", f"{scale0:.5f}")


def test_save_error_shows_retry_and_loses_nothing(annotator):
    from playwright.sync_api import expect

    image = annotator.image_id(EXEMPLAR_IMAGE)
    annotator.open(image)
    page = annotator.page
    page.route("**/api/v1/images/*/boxes", lambda route: route.abort())
    annotator.draw(100, 100, 80, 60)
    annotator.wait_data("save-state", "error")
    expect(page.locator("#save-retry")).to_be_visible()
    annotator.wait_data("box-count", "1")
    assert annotator.db_boxes(image) == []
    page.screenshot(path=artifact("save-error.png"))
    page.unroute("**/api/v1/images/*/boxes")
    page.click("#save-retry")
    annotator.wait_saved()
    expect(page.locator("#save-retry")).to_be_hidden()
    assert len(annotator.db_boxes(image, "accepted")) == 1


@pytest.fixture
def big_image(live_server, tmp_path):
    """A 10,000 x 10,000 JPEG ingested as dataset ``big`` with 1,000 accepted boxes on it."""
    from PIL import Image as PILImage
    from PIL import ImageDraw
    from sqlalchemy import select

    from labeler.ingest import ingest
    from labeler.store.models import Box, Image, LabelClass

    rng = np.random.default_rng(4)
    src = tmp_path / "big"
    src.mkdir()
    img = PILImage.new("RGB", (10_000, 10_000), (205, 190, 200))
    draw = ImageDraw.Draw(img)
    for x, y in rng.integers(0, 9_800, size=(200, 2)):
        draw.ellipse((int(x), int(y), int(x) + 150, int(y) + 150), fill=(170, 90, 120))
    img.save(src / "huge.jpg", quality=70)
    ws = live_server.ws
    ingest(ws, src, dataset="big", labels=("cell",), workers=1, progress=False)
    with ws.sessions.begin() as s:
        image = s.scalar(select(Image).where(Image.path.endswith("/huge.jpg")))
        label = s.scalar(select(LabelClass).where(LabelClass.name == "cell"))
        xy = rng.uniform(0, 9_700, size=(1000, 2))
        wh = rng.uniform(40, 300, size=(1000, 2))
        s.add_all(
            Box(
                image_id=image.id,
                label_id=label.id,
                x=float(x),
                y=float(y),
                w=float(w),
                h=float(h),
                status="accepted",
                source="user",
            )  # fmt: skip
            for (x, y), (w, h) in zip(xy, wh, strict=True)
        )
        return image.id


def test_huge_image_with_1000_boxes(annotator, big_image):
    page = annotator.page
    files = []
    page.on("request", lambda r: "/file" in r.url and files.append(r.url))
    annotator.open(big_image)
    assert len(files) == 1 and files[0].endswith("?max=2048")  # the downscaled copy
    annotator.wait_data("box-count", "1000")
    # One canvas, no element per box.
    assert page.locator(".annotator-stage canvas").count() == 1
    assert page.locator(".annotator-stage *").count() == 2  # and the message line over it
    scale0 = annotator.num("scale")
    assert scale0 < 0.1  # the whole 10,000 px image fits the window

    before = {r[0] for r in annotator.db_boxes(big_image)}
    annotator.draw(5_000, 5_000, 1_000, 800)  # over other boxes: drawing, not moving
    annotator.wait_saved()
    [new] = [r for r in annotator.db_boxes(big_image) if r[0] not in before]
    # Stored in original pixels (one screen pixel is ~15 image pixels here).
    assert geometry(new) == pytest.approx((5_000, 5_000, 1_000, 800), abs=40)
    assert len(before) == 1000 and annotator.data("box-count") == "1001"

    # Whole pixels: the browser reports wheel positions rounded.
    x, y = (round(v) for v in annotator.screen(2_500, 2_500))
    under = annotator.image_at(x, y)
    page.mouse.move(x, y)
    for _ in range(25):
        page.mouse.wheel(0, -300)
    annotator.wait_until("scale", lambda v: float(v) > scale0 * 9)  # all 25 wheel steps
    assert annotator.image_at(x, y) == pytest.approx(under, abs=1.0)  # zoomed around the cursor
    page.keyboard.press("0")
    annotator.wait_data("scale", f"{scale0:.5f}")
    page.screenshot(path=artifact("huge-image-1000-boxes.png"))
