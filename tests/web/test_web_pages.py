"""HTML pages: datasets, the dataset grid (filters, paging), the annotator route, safety."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from labeler.store.models import Dataset, Image

V1 = "/api/v1"
XSS = "<img src=x onerror=alert(1)>"


def dataset_id(api) -> int:
    return api.get(f"{V1}/datasets").get_json()[0]["id"]


def image_ids(api) -> list[int]:
    page = api.get(f"{V1}/datasets/{dataset_id(api)}/images").get_json()
    return [i["id"] for i in page["items"]]


def html(api, url: str, status: int = 200) -> str:
    resp = api.get(url)
    assert resp.status_code == status, resp.data[:500]
    assert resp.mimetype == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    return resp.get_data(as_text=True)


def test_datasets_page_shows_progress_and_undecided(api):
    ids = image_ids(api)
    api.post(f"{V1}/images/{ids[0]}/state", json={"state": "done"})
    api.post(f"{V1}/images/{ids[1]}/state", json={"state": "empty"})
    body = {"label": "RBC", "x": 5, "y": 5, "w": 20, "h": 20, "status": "proposed"}
    api.post(f"{V1}/images/{ids[2]}/boxes", json=body)
    page = html(api, "/")
    assert 'href="/datasets/' in page and ">demo</a>" in page
    assert "1 done, 1 empty, 0 in progress, 22 new of 24" in page
    assert "1 undecided proposals" in page
    widths = dict(re.findall(r'class="bar-(\w+)" x="[\d.]+" y="0" width="([\d.]+)"', page))
    assert widths == {"done": "41.7", "empty": "41.7", "in_progress": "0.0", "new": "916.7"}
    assert "style=" not in page  # the CSP forbids inline styles


def test_dataset_grid_filters_and_links(api):
    ids = image_ids(api)
    ds = dataset_id(api)
    page = html(api, f"/datasets/{ds}")
    assert page.count('class="thumb state-new"') == 24
    for i in ids:
        assert f'href="/images/{i}"' in page
        assert f'src="/api/v1/images/{i}/thumbnail"' in page
    api.post(f"{V1}/images/{ids[5]}/state", json={"state": "done"})
    api.post(f"{V1}/images/{ids[6]}/boxes", json={"label": "WBC", "x": 5, "y": 5, "w": 9, "h": 9})
    done = html(api, f"/datasets/{ds}?state=done")
    assert re.findall(r'data-image-id="(\d+)"', done) == [str(ids[5])]
    assert '<option value="done" selected>' in done
    wbc = html(api, f"/datasets/{ds}?label=WBC")
    assert re.findall(r'data-image-id="(\d+)"', wbc) == [str(ids[6])]
    assert html(api, f"/datasets/{ds}?undecided=1").count('class="thumb') == 0
    assert "No images match" in html(api, f"/datasets/{ds}?undecided=1")


def test_dataset_grid_pages_with_a_cursor(api, demo_ws):
    ds = dataset_id(api)
    with demo_ws.sessions.begin() as s:
        s.add_all(
            Image(dataset_id=ds, path=f"datasets/demo/images/syn/{i:04d}.jpg", sha256=f"{i:064x}",
                  width=64, height=48, format="jpeg")
            for i in range(1000)
        )  # fmt: skip
    seen, url = [], f"/datasets/{ds}?limit=200"
    while url:
        page = html(api, url)
        seen += re.findall(r'data-image-id="(\d+)"', page)
        nxt = re.search(r'class="next" rel="next" href="([^"]+)"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        if url:
            assert "limit=200" in url and "page=" in url
    assert len(seen) == 1024 == len(set(seen))


def test_bad_filters_and_unknown_ids_are_html_errors(api):
    ds = dataset_id(api)
    assert api.get(f"/datasets/{ds}?state=bogus").status_code == 400
    assert api.get("/datasets/9999").status_code == 404
    assert api.get("/images/9999").status_code == 404
    assert api.get("/images/9999").mimetype == "text/html"


def annotator_config(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="annotator-config">(.*?)</script>',
                      page, re.S)  # fmt: skip
    assert match, "annotate.html hands its data over in #annotator-config"
    return json.loads(match.group(1))


def test_annotate_route_context(api, web_app):
    ids = image_ids(api)
    api.post(f"{V1}/images/{ids[1]}/state", json={"state": "done"})
    page = html(api, f"/images/{ids[0]}")
    cfg = annotator_config(page)
    assert cfg["image"]["id"] == ids[0]
    assert (cfg["image"]["width"], cfg["image"]["height"]) == (640, 480)
    assert cfg["image"]["rel_path"].endswith(".jpg")
    assert cfg["dataset"]["name"] == "demo"
    assert [lab["name"] for lab in cfg["labels"]] == ["RBC", "WBC", "Platelets"]
    assert [lab["hotkey"] for lab in cfg["labels"]] == [1, 2, 3]
    assert cfg["prev_id"] is None and cfg["next_id"] == ids[1]
    assert cfg["next_unfinished_id"] == ids[2]
    token = api.environ_base["HTTP_X_CSRF_TOKEN"]
    assert cfg["csrf_token"] == token
    assert f'<meta name="csrf-token" content="{token}">' in page


def test_label_names_are_text_never_html(api):
    ds = dataset_id(api)
    label = api.post(f"{V1}/datasets/{ds}/labels", json={"name": XSS})
    assert label.status_code == 201
    ids = image_ids(api)
    api.post(f"{V1}/images/{ids[0]}/boxes", json={"label": XSS, "x": 5, "y": 5, "w": 9, "h": 9})
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    for url in ("/", f"/datasets/{ds}", f"/datasets/{ds}?label={XSS}", f"/images/{ids[0]}"):
        page = html(api, url)
        assert XSS not in page, url
        if not url.startswith("/images/"):
            assert escaped in page, url
    cfg = annotator_config(html(api, f"/images/{ids[0]}"))
    assert cfg["labels"][-1]["name"] == XSS  # intact as data, inert as markup
    # The JSON API returns it as a JSON string, never as HTML.
    resp = api.get(f"{V1}/images/{ids[0]}")
    assert resp.mimetype == "application/json" and resp.get_json()["boxes"][0]["label"] == XSS


def test_dataset_names_are_escaped_too(api, demo_ws):
    with demo_ws.sessions.begin() as s:
        s.scalar(select(Dataset)).name = XSS
    assert XSS not in html(api, "/")


def test_static_files_are_served(api):
    resp = api.get("/static/app.css")
    assert resp.status_code == 200 and resp.mimetype == "text/css"
    resp.close()


@pytest.mark.parametrize(("module", "path"), [("completeness", "/completeness"),
                                              ("versions", "/versions")])  # fmt: skip
def test_nav_links_only_for_registered_blueprints(api, web_app, module, path):
    page = html(api, "/")
    assert (f'href="{path}"' in page) == (module in web_app.blueprints)
