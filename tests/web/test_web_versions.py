"""The Versions pages through ``create_app`` and Flask's test client, over real git + DVC."""

from __future__ import annotations

import re

import pytest
from helpers import threaded_server
from sqlalchemy import select

from labeler.store.models import Box, Image


@pytest.fixture
def client(version_ws):
    from labeler.web import create_app

    app = create_app({"WORKSPACE": version_ws, "TESTING": True})
    with app.test_client() as client:
        client.ws = version_ws
        yield client


def token(client) -> dict:
    return {"X-CSRF-Token": client.get("/api/v1/session").get_json()["csrf_token"]}


def dataset_id(ws) -> int:
    with ws.sessions() as s:
        return s.scalars(select(Image.dataset_id)).first()


def test_create_from_the_page_then_list_and_diff(client):
    ds = dataset_id(client.ws)
    page = client.get(f"/datasets/{ds}/versions")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No versions of demo yet" in html
    # the completeness report comes before the form
    assert html.index("Complete: nothing blocks") < html.index('id="create-version-form"')
    assert "Create demo@v1" in html

    resp = client.post(f"/datasets/{ds}/versions", json={"message": "first"}, headers=token(client))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["tag"] == "demo@v1"
    with client.ws.sessions.begin() as s:
        s.delete(s.scalars(select(Box).order_by(Box.id)).first())
    body = {"message": "<script>alert(1)</script>"}
    assert (
        client.post(f"/datasets/{ds}/versions", json=body, headers=token(client)).status_code == 201
    )

    html = client.get(f"/datasets/{ds}/versions").get_data(as_text=True)
    assert "demo@v1" in html and "demo@v2" in html and "Create demo@v3" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    overview = client.get("/versions").get_data(as_text=True)
    assert "2 versions" in overview and "demo@v2" in overview

    diff = client.get(f"/datasets/{ds}/versions/diff?a=v1&b=v2")
    assert diff.status_code == 200
    text = diff.get_data(as_text=True)
    assert "demo@v1 → demo@v2" in text
    rows = re.findall(r'<tr data-label="([^"]+)"><td>[^<]*</td><td>(\d+)</td><td>(\d+)</td>', text)
    assert {label for label, _, _ in rows} == {"RBC", "WBC", "Platelets"}
    assert sum(int(removed) for _, _, removed in rows) == 1  # the deleted box
    assert sum(int(added) for _, added, _ in rows) == 0


def test_incomplete_dataset_is_refused_with_its_blockers(client):
    ds = dataset_id(client.ws)
    with client.ws.sessions.begin() as s:
        s.scalars(select(Image)).first().state = "in_progress"
    html = client.get(f"/datasets/{ds}/versions").get_data(as_text=True)
    assert "Not complete:" in html and 'name="allow_incomplete"' in html
    resp = client.post(f"/datasets/{ds}/versions", json={"message": "x"}, headers=token(client))
    assert resp.status_code == 409
    assert resp.get_json()["blockers"]
    assert "not complete" in resp.get_json()["detail"]
    forced = client.post(f"/datasets/{ds}/versions", headers=token(client),
                         json={"message": "x", "allow_incomplete": True})  # fmt: skip
    assert forced.status_code == 201 and forced.get_json()["complete"] is False
    assert "(incomplete)" in client.get(f"/datasets/{ds}/versions").get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message": "  "}, 422),
        ({}, 400),
        ({"message": 3}, 400),
        ({"message": "ok", "push": "yes"}, 400),
    ],
)
def test_bad_create_requests(client, body, status):
    ds = dataset_id(client.ws)
    resp = client.post(f"/datasets/{ds}/versions", json=body, headers=token(client))
    assert resp.status_code == status
    assert resp.get_json()["detail"]


def test_create_needs_the_csrf_token(client):
    ds = dataset_id(client.ws)
    resp = client.post(f"/datasets/{ds}/versions", json={"message": "x"})
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "url",
    ["/datasets/999/versions", "/datasets/{ds}/versions/diff?a=v1&b=v9"],
)
def test_unknown_dataset_or_version_is_404(client, url):
    assert client.get(url.format(ds=dataset_id(client.ws))).status_code == 404


def test_nav_links_to_versions(client):
    assert 'href="/versions"' in client.get("/versions").get_data(as_text=True)


@pytest.fixture
def versions_server(version_ws):
    """The app over ``version_ws`` behind a real threaded WSGI server on a free port."""
    with threaded_server(version_ws, secret="versions-tests-" + "k" * 32) as (_app, url):
        yield url
    version_ws.engine.dispose()


@pytest.mark.browser
def test_create_version_in_a_real_browser(chromium, versions_server, version_ws):
    """static/versions.js: the form posts JSON with the CSRF token, then shows the new version."""
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{versions_server}/datasets/{dataset_id(version_ws)}/versions")
        page.fill("#create-version-form input[name=message]", "from the browser")
        page.click("#create-version-form button[type=submit]")
        row = page.locator('table.versions tr[data-version="1"]')
        expect(row).to_contain_text("from the browser", timeout=120_000)
        expect(row).to_contain_text("demo@v1")
        page.fill("#create-version-form input[name=message]", "   ")
        page.click("#create-version-form button[type=submit]")
        expect(page.locator(".create-status")).to_contain_text("must say what changed")
    finally:
        context.close()
    assert not errors
