"""The review round trip through the API (done -> queue -> send back with a comment ->
the annotator sees it -> done -> approved), assignment order of "next image", the
dataset filter by assignee and the Team page's figures; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from helpers import log_in

from labeler import accounts
from labeler.completeness import check_dataset

V1 = "/api/v1"


def _post(client, url, body, who):
    resp = client.post(url, json=body, headers=who)
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def _draw(client, who, image_id, x=5):
    body = {"label": "RBC", "x": x, "y": 5, "w": 20, "h": 20}
    return _post(client, f"{V1}/images/{image_id}/boxes", body, who)


def test_review_round_trip(team_app, team):
    client = team_app.test_client()
    ann, rita = team.bearer("ann"), team.bearer("rita")
    _draw(client, ann, 1)
    _post(client, f"{V1}/images/1/state", {"state": "done"}, ann)
    queue = client.get(f"{V1}/review-queue", headers=rita).get_json()["items"]
    assert [im["id"] for im in queue] == [1] and queue[0]["finished_by"] == "ann"

    back = {"state": "in_progress", "comment": "the cell at the left edge is missing"}
    assert _post(client, f"{V1}/images/1/state", back, rita)["state"] == "in_progress"
    image = client.get(f"{V1}/images/1", headers=ann).get_json()
    assert image["review"]["comment"] == back["comment"] and image["review"]["by"] == "rita"
    log_in(client, "ann")
    page = client.get("/images/1").get_data(as_text=True)
    assert 'id="review-comment"' in page and "the cell at the left edge is missing" in page
    assert client.get(f"{V1}/review-queue", headers=rita).get_json()["items"] == []

    _draw(client, ann, 1, x=40)
    _post(client, f"{V1}/images/1/state", {"state": "done"}, ann)
    assert client.get(f"{V1}/images/1", headers=ann).get_json()["review"] is None
    approved = _post(client, f"{V1}/images/1/state", {"state": "approved"}, rita)
    assert approved["state"] == "approved"
    assert client.get(f"{V1}/review-queue", headers=rita).get_json()["items"] == []
    boxes = client.get(f"{V1}/images/1", headers=rita).get_json()["boxes"]
    assert {(b["created_by"], b["decided_by"]) for b in boxes} == {("ann", "ann")}

    (ann_row,) = [f for f in client.get(f"{V1}/team/figures", headers=rita).get_json()
                  if f["name"] == "ann"]  # fmt: skip
    assert ann_row["images_done"] == 1 and ann_row["boxes_drawn"] == 2
    assert (ann_row["approved"], ann_row["sent_back"], ann_row["approval_rate"]) == (1, 1, 0.5)
    assert ann_row["seconds_per_image"] is not None  # two finishes of image 1


@pytest.mark.parametrize(
    ("state_before", "body", "status", "needle"),
    [
        ("in_progress", {"state": "approved"}, 422, "only done or empty images"),
        ("new", {"state": "in_progress", "comment": "why"}, 422, "only a finished image"),
        ("done", {"state": "done", "comment": "ok"}, 422, "sends an image back"),
        ("done", {"state": "in_progress", "comment": "  "}, 422, "comment must be"),
        ("done", {"state": "in_progress", "comment": 5}, 400, "'comment'"),
        ("done", {"state": "signed off"}, 422, "state must be one of"),
    ],
)
def test_bad_review_steps_are_4xx_and_change_nothing(team_app, team, state_before, body,
                                                     status, needle):  # fmt: skip
    client = team_app.test_client()
    if state_before == "in_progress":
        _draw(client, team.bearer("ann"), 7)
    elif state_before == "done":
        _post(client, f"{V1}/images/7/state", {"state": "empty"}, team.bearer("ann"))
    before = client.get(f"{V1}/images/7", headers=team.bearer("rita")).get_json()
    resp = client.post(f"{V1}/images/7/state", json=body, headers=team.bearer("rita"))
    assert resp.status_code == status and needle in resp.get_json()["detail"]
    after = client.get(f"{V1}/images/7", headers=team.bearer("rita")).get_json()
    assert (after["state"], after["version"]) == (before["state"], before["version"])


def test_next_image_serves_the_annotators_assigned_images_first(team_app, team):
    accounts.assign(team.ws, dataset="demo", to="bob", count=2, who="ada")  # 1, 2
    accounts.assign(team.ws, dataset="demo", to="ann", count=3, who="ada")  # 3, 4, 5
    client = team_app.test_client()
    ann, bob, rita = team.bearer("ann"), team.bearer("bob"), team.bearer("rita")
    assert client.get(f"{V1}/images/10", headers=ann).get_json()["next_unfinished_id"] == 3
    assert client.get(f"{V1}/images/3", headers=ann).get_json()["next_unfinished_id"] == 4
    assert client.get(f"{V1}/images/10", headers=bob).get_json()["next_unfinished_id"] == 1
    assert client.get(f"{V1}/images/10", headers=rita).get_json()["next_unfinished_id"] == 11
    for image_id in (3, 4, 5):
        _post(client, f"{V1}/images/{image_id}/state", {"state": "empty"}, ann)
    # nothing of ann's left: the next unassigned one, never bob's
    assert client.get(f"{V1}/images/10", headers=ann).get_json()["next_unfinished_id"] == 11
    assert client.get(f"{V1}/images/24", headers=ann).get_json()["next_unfinished_id"] == 6


def test_dataset_filters_by_assignee(team_app, team):
    accounts.assign(team.ws, dataset="demo", to="bob", count=2, who="ada")
    client = team_app.test_client()
    ada = team.bearer("ada")
    ids = lambda q: [im["id"] for im in client.get(  # noqa: E731
        f"{V1}/datasets/1/images?{q}", headers=ada).get_json()["items"]]  # fmt: skip
    assert ids("assignee=bob") == [1, 2]
    assert ids("assignee=ann") == []
    assert ids("unassigned=1") == list(range(3, 25))
    log_in(client, "ada")
    page = client.get("/datasets/1?assignee=bob").get_data(as_text=True)
    assert page.count('class="thumb ') == 2 and '<span class="assignee">bob</span>' in page
    assert '<option value="bob" selected>' in page


def test_assignment_through_the_api(team_app, team):
    client = team_app.test_client()
    ada = team.bearer("ada")
    out = _post(client, f"{V1}/datasets/1/assign", {"to": "ann", "images": 4}, ada)
    assert out == {"assigned": [1, 2, 3, 4], "to": "ann"}
    rest = _post(client, f"{V1}/datasets/1/assign", {"to": "bob", "all_unassigned": True}, ada)
    assert rest["assigned"] == list(range(5, 25))
    for body, status in [({"to": "ann"}, 400), ({"to": "nobody", "images": 1}, 404),
                         ({"to": "ann", "images": 0}, 422),
                         ({"to": "ann", "images": 1, "all_unassigned": True}, 400)]:  # fmt: skip
        assert client.post(f"{V1}/datasets/1/assign", json=body, headers=ada).status_code == status


def test_check_require_review_blocks_until_approved(team_app, team):
    client = team_app.test_client()
    for image_id in range(1, 25):
        _post(client, f"{V1}/images/{image_id}/state", {"state": "empty"}, team.bearer("ann"))
    assert not check_dataset(team.ws, "demo").blocking
    report = check_dataset(team.ws, "demo", require_review=True)
    assert report.blockers == ["24 finished images not approved by a reviewer"]
    for image_id in range(1, 25):
        _post(client, f"{V1}/images/{image_id}/state", {"state": "approved"}, team.bearer("rita"))
    report = check_dataset(team.ws, "demo", require_review=True)
    assert not report.blocking and report.images["approved"] == 24
    log_in(client, "ada")
    page = client.get("/datasets/1").get_data(as_text=True)
    assert 'class="bar-approved"' in page and "24 approved" in page


def test_team_and_review_pages(team_app, team):
    client = team_app.test_client()
    _post(client, f"{V1}/images/1/state", {"state": "empty"}, team.bearer("ann"))
    log_in(client, "ann")
    assert client.get("/team").status_code == 403
    assert b'href="/team"' not in client.get("/").data
    log_in(client, "rita")
    team_page = client.get("/team").get_data(as_text=True)
    assert '<tr data-user="ann">' in team_page and 'id="assign-form"' not in team_page
    review = client.get("/review").get_data(as_text=True)
    assert review.count('class="review-item"') == 1 and 'data-image-id="1"' in review
    log_in(client, "ada")
    assert 'id="assign-form"' in client.get("/team").get_data(as_text=True)
