"""``docs/grafana-labeler.json``: a Grafana dashboard model whose every query names metrics
and labels that ``/metrics`` really exports (scraped from an app that has served requests,
stored proposals and decisions, and a job), so a renamed metric breaks this test, not the
dashboard someone imported."""

from __future__ import annotations

import json
import re

import pytest
from helpers import REPO
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from labeler.store.models import Image, Job

DASHBOARD = REPO / "docs" / "grafana-labeler.json"
V1 = "/api/v1"
METRIC = re.compile(r"\b(labeler_[a-z0-9_]+)\b")
SELECTOR = re.compile(r"\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)")


def _panels(dashboard: dict):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def _queries(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs + variables


@pytest.fixture
def exported(api, demo_ws) -> dict[str, set[str]]:
    """Every sample name ``/metrics`` exports after some traffic -> its label names."""
    with demo_ws.sessions.begin() as s:
        image_id = s.scalar(select(Image.id).order_by(Image.id))
        s.add(Job(kind="propagate", status="done", params={}))
    box = {
        "label": "RBC",
        "x": 1,
        "y": 1,
        "w": 5,
        "h": 5,
        "status": "proposed",
        "source": "matcher",
    }
    made = api.post(f"{V1}/images/{image_id}/boxes", json=box).get_json()
    api.patch(f"{V1}/boxes/{made['id']}", json={"version": made["version"], "status": "accepted"})
    api.get(f"{V1}/images/{2**63}")  # a 404: the status label has more than one value
    body = api.get("/metrics").get_data(as_text=True)
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_the_dashboard_is_a_grafana_model_on_a_prometheus_variable():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in _panels(dashboard):
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}" and t["expr"].strip()


def test_every_query_names_exported_metrics_and_labels(exported):
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used = set()
    for query in _queries(dashboard):
        metrics = METRIC.findall(query)
        assert metrics, f"no labeler metric in {query!r}"
        for name in metrics:
            assert name in exported, f"{name} (in {query!r}) is not exported by /metrics"
        labels = set().union(*(exported[name] for name in metrics))
        named = {m for sel in SELECTOR.findall(query) for m in MATCHER.findall(sel)}
        named |= {g.strip() for grp in GROUPING.findall(query) for g in grp.split(",") if g}
        named |= {label for _metric, label in LABEL_VALUES.findall(query)}
        assert named <= labels, f"{query!r}: labels {sorted(named - labels)} not exported"
        used.update(metrics)
    # What issue 13 asks the dashboard to show, each by its metric.
    assert {
        "labeler_http_requests_total",
        "labeler_http_request_duration_seconds_bucket",
        "labeler_find_similar_duration_seconds_bucket",
        "labeler_proposals",
        "labeler_jobs",
        "labeler_images",
    } <= used
