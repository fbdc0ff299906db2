"""The Versions page as a web user meets it (issue 11, defect 6), in a real Chromium: the
refusal speaks of the page's checkbox, not a CLI flag; Push is offered only with a DVC
remote; a version made whose push failed still shows up in the table with the reason."""

from __future__ import annotations

import pytest
from test_web_versions import dataset_id, versions_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def versions_page(chromium, versions_server, version_ws):  # noqa: F811
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto_versions = lambda: page.goto(
        f"{versions_server}/datasets/{dataset_id(version_ws)}/versions"
    )
    yield page
    context.close()
    assert not errors


def reopen_one_image(ws):
    from sqlalchemy import select

    from labeler.store.models import Image

    with ws.sessions.begin() as s:
        s.scalars(select(Image).order_by(Image.id)).first().state = "new"


def test_refusal_speaks_of_the_checkbox_and_no_remote_means_no_push(versions_page, version_ws):
    from playwright.sync_api import expect

    reopen_one_image(version_ws)
    page = versions_page
    page.goto_versions()
    expect(page.locator("input[name=push]")).to_have_count(0)
    expect(page.locator(".no-remote")).to_contain_text("labeler remote add")
    page.fill("#create-version-form input[name=message]", "too early")
    page.click("#create-version-form button[type=submit]")
    status = page.locator(".create-status")
    expect(status).to_contain_text("Version anyway")
    assert "--allow-incomplete" not in status.inner_text()


def test_push_failure_still_lists_the_new_version(versions_page, version_ws, tmp_path):
    from playwright.sync_api import expect

    from labeler.versioning import add_remote

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the remote's folder should be")
    add_remote(version_ws, str(blocker / "store"))
    page = versions_page
    page.goto_versions()
    page.fill("#create-version-form input[name=message]", "first")
    page.check("#create-version-form input[name=push]")
    page.click("#create-version-form button[type=submit]")
    row = page.locator('table.versions tr[data-version="1"]')
    expect(row).to_contain_text("demo@v1", timeout=120_000)  # the table was refreshed
    status = page.locator(".create-status")
    expect(status).to_contain_text("demo@v1 was created, but dvc push failed")
    assert "failed: ;" not in status.inner_text()
    expect(page.locator("#create-version-form button[type=submit]")).to_contain_text("demo@v2")
