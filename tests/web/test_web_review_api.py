"""The read-only additions behind the annotator (issue 11), through Flask's test client:
the review listing of an image's boxes, the jump-to-image route, the grid's box counts and
the workspace's hotkeys.json."""

from __future__ import annotations

import json

import pytest
from test_web_api import V1, add_box, first_image


def test_image_boxes_filtered_and_in_review_order(api):
    image = first_image(api)["id"]
    accepted = add_box(api, image, x=5)
    rows = [(400, 300, 0.95), (100, 300, 0.7), (300, 50, 0.7), (50, 50, 0.4)]
    ids = [add_box(api, image, x=x, y=y, status="proposed", score=s)["id"] for x, y, s in rows]
    everything = api.get(f"{V1}/images/{image}").get_json()["boxes"]
    assert [b["id"] for b in everything] == [accepted["id"], *ids]  # default: by id

    url = f"{V1}/images/{image}?status=proposed&min_score=0.6&order=review"
    got = api.get(url).get_json()["boxes"]
    assert [b["id"] for b in got] == [ids[0], ids[2], ids[1]]  # best, then top to bottom
    # Without status, the cut applies to proposals only.
    got = api.get(f"{V1}/images/{image}?min_score=0.9").get_json()["boxes"]
    assert {b["id"] for b in got} == {accepted["id"], ids[0]}


@pytest.mark.parametrize(
    ("query", "status", "names"),
    [
        ("min_score=abc", 400, "min_score"),
        ("min_score=1.5", 422, "min_score"),
        ("min_score=nan", 422, "min_score"),
        ("order=random", 422, "order"),
        ("status=maybe", 422, "status"),
    ],
)
def test_bad_listing_parameters_name_the_parameter(api, query, status, names):
    image = first_image(api)["id"]
    before = api.get(f"{V1}/images/{image}").get_json()["boxes"]
    resp = api.get(f"{V1}/images/{image}?{query}")
    assert resp.status_code == status
    assert names in json.dumps(resp.get_json())
    assert api.get(f"{V1}/images/{image}").get_json()["boxes"] == before


def test_jump_to_image_by_number_and_name(api):
    ds = api.get(f"{V1}/datasets").get_json()[0]["id"]
    items = api.get(f"{V1}/datasets/{ds}/images?limit=5").get_json()["items"]
    resp = api.get(f"/datasets/{ds}/goto?to=3")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        f"/images/{items[2]['id']}"
    )
    name = items[4]["path"]
    resp = api.get(f"/datasets/{ds}/goto?to={name}")
    assert resp.headers["Location"].endswith(f"/images/{items[4]['id']}")
    assert api.get(f"/datasets/{ds}/goto?to=9999").status_code == 404
    assert api.get(f"/datasets/{ds}/goto?to=no-such-file").status_code == 404
    assert api.get(f"/datasets/{ds}/goto").status_code == 400


def test_grid_shows_box_counts(api):
    image = first_image(api)
    add_box(api, image["id"])
    add_box(api, image["id"], x=100, status="proposed", score=0.5)
    add_box(api, image["id"], x=200, status="proposed", score=0.5)
    ds = api.get(f"{V1}/datasets").get_json()[0]["id"]
    html = api.get(f"/datasets/{ds}").get_data(as_text=True)
    assert 'data-accepted="1" data-proposed="2"' in html and "2 waiting" in html


@pytest.mark.parametrize(
    ("text", "keys", "error"),
    [
        ('{"done": ["Shift+d"], "accept": "q"}', {"done": ["Shift+d"], "accept": ["q"]}, None),
        ("{broken", {}, "hotkeys.json"),
        ('["d"]', {}, "JSON object"),
        ('{"done": []}', {}, "'done'"),
        ('{"done": [3]}', {}, "'done'"),
    ],
)
def test_hotkeys_file(demo_ws, text, keys, error):
    from labeler.web.pages_hotkeys import load_hotkeys

    assert load_hotkeys(demo_ws) == {"keys": {}, "error": None}  # no file: the defaults
    (demo_ws.root / ".labeler" / "hotkeys.json").write_text(text)
    got = load_hotkeys(demo_ws)
    assert got["keys"] == keys
    assert (got["error"] is None) == (error is None)
    if error:
        assert error in got["error"]


def test_annotator_page_carries_position_progress_and_hotkeys(api, demo_ws):
    (demo_ws.root / ".labeler" / "hotkeys.json").write_text('{"done": "Shift+d"}')
    ds = api.get(f"{V1}/datasets").get_json()[0]["id"]
    items = api.get(f"{V1}/datasets/{ds}/images?limit=3").get_json()["items"]
    html = api.get(f"/images/{items[1]['id']}").get_data(as_text=True)
    assert "Image 2 of 24" in html and "0/24 finished" in html
    assert items[0]["path"] in html  # Copy previous names its source
    assert '"hotkeys": {"error": null, "keys": {"done": ["Shift+d"]}}' in html
