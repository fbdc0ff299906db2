"""Every role x action pair through the API, allowed and 403 (naming the role needed),
on SQLite and PostgreSQL; and annotators only see unassigned images and their own."""

from __future__ import annotations

import pytest
from helpers import TEAM

from labeler import accounts
from labeler.web.auth import ENDPOINT_ACTIONS, PUBLIC, SAFE_METHODS

V1 = "/api/v1"
ROLE_OF = {role: name for name, role in reversed(TEAM.items())}  # admin ada, ... annotator ann
IMAGE_OF = {"annotator": 1, "reviewer": 2, "admin": 3}  # one image per role: no interference


def _box(client, who, image_id, status="accepted"):
    body = {"label": "RBC", "x": 5, "y": 5, "w": 20, "h": 20, "status": status, "source":
            "matcher" if status == "proposed" else "user"}  # fmt: skip
    resp = client.post(f"{V1}/images/{image_id}/boxes", json=body, headers=who)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _done(client, who, image_id):
    _box(client, who, image_id)
    resp = client.post(f"{V1}/images/{image_id}/state", json={"state": "done"}, headers=who)
    assert resp.status_code == 200, resp.get_json()


# action -> (setup(client, admin_headers, image_id) -> (method, url, body), allowed status,
# least role). Setups run as the admin, so only the request under test varies by role; a
# status 400/422 for "allowed" means the request passed the role check and met the view's
# own validation (a version is not worth a DVC run here).
ACTIONS = {
    "view image": (lambda c, a, i: ("GET", f"{V1}/images/{i}", None), 200, "annotator"),
    "draw": (
        lambda c, a, i: (
            "POST",
            f"{V1}/images/{i}/boxes",
            {"label": "RBC", "x": 1, "y": 1, "w": 9, "h": 9},
        ),
        201,
        "annotator",
    ),  # fmt: skip
    "move box": (
        lambda c, a, i: ("PATCH", f"{V1}/boxes/{_box(c, a, i)['id']}", {"version": 1, "x": 2}),
        200,
        "annotator",
    ),  # fmt: skip
    "delete box": (
        lambda c, a, i: ("DELETE", f"{V1}/boxes/{_box(c, a, i)['id']}", None),
        200,
        "annotator",
    ),  # fmt: skip
    "decide": (
        lambda c, a, i: (
            "POST",
            f"{V1}/boxes/decide",
            {"ids": [_box(c, a, i, "proposed")["id"]], "status": "accepted"},
        ),
        200,
        "annotator",
    ),  # fmt: skip
    "finish": (
        lambda c, a, i: ("POST", f"{V1}/images/{i}/state", {"state": "empty"}),
        200,
        "annotator",
    ),  # fmt: skip
    "find similar": (
        lambda c, a, i: ("POST", f"{V1}/images/{i}/find-similar", {"box_ids": []}),
        422,
        "annotator",
    ),  # fmt: skip
    "approve": (
        lambda c, a, i: (_done(c, a, i), ("POST", f"{V1}/images/{i}/state", {"state": "approved"}))[
            1
        ],
        200,
        "reviewer",
    ),  # fmt: skip
    "send back": (
        lambda c, a, i: (
            _done(c, a, i),
            (
                "POST",
                f"{V1}/images/{i}/state",
                {"state": "in_progress", "comment": "two cells missed"},
            ),
        )[1],
        200,
        "reviewer",
    ),  # fmt: skip
    "review queue": (lambda c, a, i: ("GET", f"{V1}/review-queue", None), 200, "reviewer"),
    "team figures": (lambda c, a, i: ("GET", f"{V1}/team/figures", None), 200, "reviewer"),
    "list users": (lambda c, a, i: ("GET", f"{V1}/users", None), 200, "reviewer"),
    "add label": (
        lambda c, a, i: ("POST", f"{V1}/datasets/1/labels", {"name": f"L{i}"}),
        201,
        "admin",
    ),  # fmt: skip
    "edit label": (
        lambda c, a, i: ("PATCH", f"{V1}/labels/1", {"colour": "#123456"}),
        200,
        "admin",
    ),  # fmt: skip
    "assign": (
        lambda c, a, i: ("POST", f"{V1}/datasets/1/assign", {"to": "bob", "images": 1}),
        200,
        "admin",
    ),  # fmt: skip
    "create version": (lambda c, a, i: ("POST", "/datasets/1/versions", {}), 400, "admin"),
    "add user": (
        lambda c, a, i: (
            "POST",
            f"{V1}/users",
            {"name": f"new{i}", "role": "annotator", "password": "long enough"},
        ),
        201,
        "admin",
    ),  # fmt: skip
    "remove user": (lambda c, a, i: ("DELETE", f"{V1}/users/bob", None), 200, "admin"),
}
ROLES = ("annotator", "reviewer", "admin")
ORDER = {role: n for n, role in enumerate(ROLES)}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_role_action(team_app, team, action, role):
    setup, allowed_status, least = ACTIONS[action]
    client = team_app.test_client()
    method, url, body = setup(client, team.bearer("ada"), IMAGE_OF[role])
    resp = client.open(url, method=method, json=body, headers=team.bearer(ROLE_OF[role]))
    data = resp.get_json()
    if ORDER[role] >= ORDER[least]:
        assert resp.status_code == allowed_status, data
    else:
        assert resp.status_code == 403, data
        assert data["error"] == "forbidden" and data["role_needed"] == least
        assert data["role"] == role and f"needs the {least} role" in data["detail"]


def test_every_write_endpoint_is_in_the_table(team_app):
    """A new view that changes something must name its action (else it is admin-only)."""
    unlisted = [
        rule.endpoint
        for rule in team_app.url_map.iter_rules()
        if set(rule.methods) - SAFE_METHODS - {"HEAD"}
        and rule.endpoint not in ENDPOINT_ACTIONS
        and rule.endpoint not in PUBLIC
    ]
    assert unlisted == []


def test_an_annotators_own_approve_is_403(team_app, team):
    client = team_app.test_client()
    _done(client, team.bearer("ann"), 4)
    resp = client.post(f"{V1}/images/4/state", json={"state": "approved"},
                       headers=team.bearer("ann"))  # fmt: skip
    assert resp.status_code == 403 and resp.get_json()["role_needed"] == "reviewer"
    comment = {"state": "in_progress", "comment": "self review"}
    resp = client.post(f"{V1}/images/4/state", json=comment, headers=team.bearer("ann"))
    assert resp.status_code == 403
    assert client.get(f"{V1}/images/4", headers=team.bearer("ann")).get_json()["state"] == "done"


def test_annotators_see_unassigned_images_and_their_own(team_app, team):
    accounts.assign(team.ws, dataset="demo", to="bob", count=3, who="ada")  # images 1-3
    client = team_app.test_client()
    ann, bob, rita = team.bearer("ann"), team.bearer("bob"), team.bearer("rita")
    refused = client.get(f"{V1}/images/2", headers=ann)
    assert refused.status_code == 403 and "assigned to bob" in refused.get_json()["detail"]
    assert client.get(f"{V1}/images/2/thumbnail", headers=ann).status_code == 403
    assert client.get(f"{V1}/images/2", headers=bob).get_json()["assignee"] == "bob"
    assert client.get(f"{V1}/images/2", headers=rita).status_code == 200
    assert client.get(f"{V1}/images/5", headers=ann).get_json()["assignee"] is None
    box = _box(client, bob, 2, "proposed")
    for method, url, body in [
        ("POST", f"{V1}/images/2/boxes", {"label": "RBC", "x": 1, "y": 1, "w": 9, "h": 9}),
        ("PATCH", f"{V1}/boxes/{box['id']}", {"version": 1, "x": 3}),
        ("POST", f"{V1}/boxes/decide", {"ids": [box["id"]], "status": "rejected"}),
        ("POST", f"{V1}/images/2/state", {"state": "done"}),
    ]:
        assert client.open(url, method=method, json=body, headers=ann).status_code == 403
    listing = client.get(f"{V1}/datasets/1/images", headers=ann).get_json()["items"]
    assert [im["id"] for im in listing] == list(range(4, 25))
    listing = client.get(f"{V1}/datasets/1/images", headers=bob).get_json()["items"]
    assert len(listing) == 24


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"name": "zed", "role": "boss", "password": "long enough"}, 422, "role must be"),
        ({"name": "zed", "role": "admin", "password": "short"}, 422, "at least 8"),
        ({"name": "ann", "role": "admin", "password": "long enough"}, 422, "already a user"),
        ({"name": "zed", "role": "admin"}, 400, "'password'"),
    ],
)
def test_bad_user_requests_are_4xx(team_app, team, body, status, needle):
    resp = team_app.test_client().post(f"{V1}/users", json=body, headers=team.bearer("ada"))
    assert resp.status_code == status and needle in resp.get_json()["detail"]


def test_an_admin_cannot_remove_themself(team_app, team):
    resp = team_app.test_client().delete(f"{V1}/users/ada", headers=team.bearer("ada"))
    assert resp.status_code == 400 and [u.name for u in accounts.list_users(team.ws)][0] == "ada"


def test_an_approved_image_is_the_reviewers(team_app, team):
    client = team_app.test_client()
    ann, rita = team.bearer("ann"), team.bearer("rita")
    box = _box(client, ann, 6, "proposed")
    _done(client, ann, 6)
    assert client.post(f"{V1}/images/6/state", json={"state": "approved"},
                       headers=rita).status_code == 200  # fmt: skip
    for method, url, body in [
        ("POST", f"{V1}/images/6/boxes", {"label": "RBC", "x": 1, "y": 1, "w": 9, "h": 9}),
        ("PATCH", f"{V1}/boxes/{box['id']}", {"version": box["version"], "x": 3}),
        ("DELETE", f"{V1}/boxes/{box['id']}", None),
        ("POST", f"{V1}/boxes/decide", {"ids": [box["id"]], "status": "rejected"}),
        ("POST", f"{V1}/images/6/state", {"state": "in_progress"}),
    ]:
        resp = client.open(url, method=method, json=body, headers=ann)
        assert resp.status_code == 403 and "approved" in resp.get_json()["detail"], url
    assert client.get(f"{V1}/images/6", headers=ann).status_code == 200
    resp = client.post(f"{V1}/boxes/decide", json={"ids": [box["id"]], "status": "rejected"},
                       headers=rita)  # fmt: skip
    assert resp.status_code == 200
