"""Teams in a real headless Chromium: log in and out, a reviewer approves and sends back
from the review queue, and the annotator sees the comment in the annotator."""

from __future__ import annotations

import pytest
from helpers import TEAM_PASSWORD
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def log_in(page, url: str, name: str, password: str | None = None) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(f"{url}/login?next=/")
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', password or TEAM_PASSWORD.format(name=name))
    page.click('form.login button[type="submit"]')


def image_state(ws, image_id):
    from labeler.store.models import Image

    with ws.sessions() as s:
        return s.get(Image, image_id).state


def test_login_and_logout(team_browser, team_live_server):
    url = team_live_server.url
    page = team_browser()
    log_in(page, url, "ann", "not her password")
    expect(page.locator("p.error")).to_have_text("Wrong name or password.")
    page.fill('input[name="password"]', TEAM_PASSWORD.format(name="ann"))
    page.click('form.login button[type="submit"]')
    expect(page).to_have_url(url + "/")
    expect(page.locator(".whoami")).to_have_text("ann (annotator)")
    expect(page.locator('nav a[href="/team"]')).to_have_count(0)  # not for annotators
    cookie = next(c for c in page.context.cookies() if c["name"] == "labeler_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("form.logout button")
    expect(page).to_have_url(url + "/login")
    resp = page.request.get(url + "/api/v1/datasets")
    assert resp.status == 401


def test_review_approve_and_send_back(team_browser, team_live_server):
    import urllib.request

    url, team = team_live_server.url, team_live_server.team
    for image_id in (1, 2):
        req = urllib.request.Request(f"{url}/api/v1/images/{image_id}/state",
                                     data=b'{"state": "empty"}', method="POST",
                                     headers={**team.bearer("ann"),
                                              "Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(req, timeout=30).close()

    reviewer = team_browser()
    log_in(reviewer, url, "rita")
    reviewer.click('nav a[href="/review"]')
    items = reviewer.locator(".review-item")
    expect(items).to_have_count(2)
    first, second = items.nth(0), items.nth(1)
    first.locator('button[data-action="approve"]').click()
    expect(first.locator(".review-status")).to_have_text("Approved")
    second.locator('button[data-action="send-back"]').click()
    expect(second.locator(".review-status")).to_have_text("Say what to fix first.")
    second.locator('input[name="comment"]').fill("there is a platelet at the top left")
    second.locator('button[data-action="send-back"]').click()
    expect(second.locator(".review-status")).to_have_text("Sent back")
    assert (image_state(team.ws, 1), image_state(team.ws, 2)) == ("approved", "in_progress")
    reviewer.reload()
    expect(reviewer.locator(".review-item")).to_have_count(0)

    annotator = team_browser()
    log_in(annotator, url, "ann")
    annotator.goto(f"{url}/images/2")
    annotator.wait_for_selector("#annotator[data-ready='1']")
    expect(annotator.locator("#review-comment")).to_have_text(
        "Sent back by rita: there is a platelet at the top left"
    )
    annotator.goto(f"{url}/images/1")
    annotator.wait_for_selector("#annotator[data-ready='1']")
    expect(annotator.locator("#review-comment")).to_have_count(0)


def test_admin_assigns_on_the_team_page(team_browser, team_live_server):
    from sqlalchemy import func, select

    from labeler.store.team import Account, Assignment

    url, ws = team_live_server.url, team_live_server.team.ws
    page = team_browser()
    log_in(page, url, "ada")
    page.click('nav a[href="/team"]')
    expect(page.locator('#team-figures tr[data-user="ann"]')).to_have_count(1)
    form = page.locator("#assign-form")
    form.locator('select[name="to"]').select_option("bob")
    form.locator('input[name="images"]').fill("5")
    form.locator('button[type="submit"]').click()
    expect(form.locator(".assign-status")).to_have_text("Assigned 5 image(s) to bob.")
    with ws.sessions() as s:
        q = select(func.count()).select_from(Assignment).join(Account)
        assert s.scalar(q.where(Account.name == "bob")) == 5
    page.goto(f"{url}/datasets/1?assignee=bob")
    expect(page.locator(".thumb .assignee")).to_have_count(5)
