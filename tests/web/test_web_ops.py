"""Operating the server: ``/healthz`` (public; 503 when a check fails), ``/metrics``
(Prometheus text, admins only with accounts) and one JSON log line per request."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from labeler.store.models import Box, Image

V1 = "/api/v1"


def _samples(body: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _image_id(ws) -> int:
    with ws.sessions() as s:
        return s.scalar(select(Image.id).order_by(Image.id))


def test_healthz_reports_each_check(web_app):
    resp = web_app.test_client().get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "migrations", "job_runner"}
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


def test_healthz_is_503_when_migrations_are_behind(web_app, demo_ws):
    with demo_ws.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    resp = web_app.test_client().get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["ok"] is False and body["checks"]["migrations"]["ok"] is False
    assert body["checks"]["migrations"]["current"] == ["0004"]
    assert body["checks"]["database"]["ok"] is True


def test_healthz_is_503_when_the_job_runner_stopped(web_app):
    runner = web_app.extensions["labeler.jobs"]
    runner.submit(0)  # an unknown job id: the runner starts, fails it quietly, stays up
    runner.join()
    assert web_app.test_client().get("/healthz").status_code == 200
    runner.stop()
    body = web_app.test_client().get("/healthz").get_json()
    assert body["checks"]["job_runner"]["ok"] is False and body["ok"] is False


def test_metrics_count_requests_proposals_and_states(api, demo_ws):
    image_id = _image_id(demo_ws)
    box = {"label": "RBC", "x": 1, "y": 1, "w": 5, "h": 5}
    api.post(f"{V1}/images/{image_id}/boxes", json=box)
    proposed = [
        api.post(f"{V1}/images/{image_id}/boxes",
                 json={**box, "x": 10 * n, "status": "proposed", "source": "matcher"}).get_json()
        for n in range(1, 4)
    ]  # fmt: skip
    for b, status in zip(proposed[:2], ("accepted", "rejected"), strict=True):
        api.patch(f"{V1}/boxes/{b['id']}", json={"version": b["version"], "status": status})
    api.get(f"{V1}/images/{2**63}")
    resp = api.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    got = _samples(resp.get_data(as_text=True))
    create = (("endpoint", "api.boxes.create_box"), ("method", "POST"), ("status", "201"))
    assert got["labeler_http_requests_total", create] == 4
    missing = (("endpoint", "api.images.show_image"), ("method", "GET"), ("status", "404"))
    assert got["labeler_http_requests_total", missing] == 1
    latency = (("endpoint", "api.boxes.create_box"), ("method", "POST"))
    assert got["labeler_http_request_duration_seconds_count", latency] == 4
    assert ("labeler_find_similar_duration_seconds_count", ()) in got

    def proposals(outcome):
        key = (("dataset", "demo"), ("label", "RBC"), ("outcome", outcome))
        return got.get(("labeler_proposals", key))

    assert (proposals("created"), proposals("accepted"), proposals("rejected")) == (3, 1, 1)
    assert got["labeler_images", (("dataset", "demo"), ("state", "in_progress"))] == 1
    assert got["labeler_images", (("dataset", "demo"), ("state", "new"))] == 23
    with demo_ws.sessions() as s:
        assert len(s.scalars(select(Box.id)).all()) == 4


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("ann", 403), ("rita", 403),
                                             ("ada", 200)])  # fmt: skip
def test_metrics_need_an_admin_once_accounts_exist(team, team_app, who, status):
    headers = {} if who is None else team.bearer(who)
    resp = team_app.test_client().get("/metrics", headers=headers)
    assert resp.status_code == status
    if status == 200:
        assert b"labeler_http_requests_total" in resp.data


def test_one_json_log_line_per_request(api, demo_ws, caplog):
    caplog.set_level(logging.INFO, logger="labeler.requests")
    image_id = _image_id(demo_ws)
    box = {"label": "RBC", "x": 1, "y": 1, "w": 5, "h": 5}
    api.post(f"{V1}/images/{image_id}/boxes", json=box, headers={"X-Labeler-User": "zoé"})
    api.get(f"{V1}/images/{image_id}", headers={"Host": "evil.example"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "labeler.requests"]
    assert [(x["method"], x["path"], x["status"], x["user"]) for x in lines] == [
        ("POST", f"{V1}/images/{image_id}/boxes", 201, "zoé"),
        ("GET", f"{V1}/images/{image_id}", 400, "-"),
    ]
    assert all(isinstance(x["ms"], float) and x["ms"] >= 0 for x in lines)
