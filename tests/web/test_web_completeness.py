"""The Completeness page (blueprint ``completeness``) in the real app from ``create_app``."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import update

from labeler.ingest.demo import load_demo_boxes
from labeler.store.models import Box, Image
from labeler.store.queries import ensure_labels, get_dataset

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def client(web_app):
    return web_app.test_client()


def _ready(ws) -> None:
    load_demo_boxes(ws)
    with ws.sessions.begin() as s:
        s.execute(update(Image).values(state="done"))


def test_blueprint_is_registered_and_linked(web_app, client):
    assert "completeness" in web_app.blueprints
    page = client.get("/")
    assert 'href="/completeness"' in page.get_data(as_text=True)


def test_overview_shows_counts_and_links_items_to_the_annotator(demo_ws, client):
    page = client.get("/completeness")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'data-blocking="true"' in body and "Not ready for release" in body
    row = re.search(r'<tr class="check[^"]*" data-check="images_new" data-count="(\d+)"', body)
    assert row and row.group(1) == "24"
    links = set(re.findall(r'href="/images/(\d+)"', body))
    with demo_ws.sessions() as s:
        ids = {str(i) for i in s.scalars(Image.__table__.select().with_only_columns(Image.id))}
    assert links == ids  # every never-opened image, each a link to its annotator page


def test_ready_dataset_page(demo_ws, client):
    _ready(demo_ws)
    with demo_ws.sessions() as s:
        ds_id = get_dataset(s, "demo").id
    body = client.get(f"/datasets/{ds_id}/completeness").get_data(as_text=True)
    assert 'data-blocking="false"' in body and "Ready for release" in body
    assert "Completeness of" in body and "566" in body
    assert "--verify-files" in body  # says files were not verified, and how


def test_box_items_link_to_their_image(demo_ws, client):
    _ready(demo_ws)
    with demo_ws.sessions.begin() as s:
        s.execute(update(Box).where(Box.id == 5).values(x=635.0))
        image_id = s.get(Box, 5).image_id
    body = client.get("/completeness").get_data(as_text=True)
    row = body[body.index('data-check="boxes_outside"') :]
    row = row[: row.index("</tr>")]
    assert f'href="/images/{image_id}"' in row and "box 5" in row


def test_label_names_are_escaped(demo_ws, client):
    with demo_ws.sessions.begin() as s:
        ds = get_dataset(s, "demo")
        (evil,) = ensure_labels(s, ds, [EVIL])
        image = s.scalars(Image.__table__.select().with_only_columns(Image.id)).first()
        s.add(Box(image_id=image, label_id=evil.id, x=1, y=1, w=1, h=1))
    body = client.get("/completeness").get_data(as_text=True)
    assert EVIL not in body
    assert html.escape(EVIL, quote=True) in body or html.escape(EVIL, quote=False) in body
    assert body.count("&lt;img src=x onerror=alert(1)&gt;") >= 2  # label table and box item


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("min_box_size=abc", 400),
        ("min_box_size=-2", 400),
        ("min_box_size=nan", 400),
        ("min_per_label=1.5", 400),
        ("min_box_size=8&min_per_label=30", 200),
    ],
)
def test_thresholds_from_the_query_string(client, query, status):
    assert client.get(f"/completeness?{query}").status_code == status


def test_thresholds_change_the_report(demo_ws, client):
    _ready(demo_ws)
    body = client.get("/completeness?min_per_label=30").get_data(as_text=True)
    assert body.count("under the minimum of 30") == 2  # WBC (26) and Platelets (16)


def test_unknown_dataset_is_404(client):
    assert client.get("/datasets/999/completeness").status_code == 404


def test_no_datasets(demo_ws, client):
    with demo_ws.sessions.begin() as s:
        s.delete(get_dataset(s, "demo"))
    assert "No datasets yet" in client.get("/completeness").get_data(as_text=True)
