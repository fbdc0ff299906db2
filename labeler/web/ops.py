"""Operating the server: ``/healthz``, ``/metrics`` and one log line per request.

- ``/healthz`` (public, for load balancers and ``systemd``): the database answers, its
  schema is the code's newest Alembic revision, the job runner can run jobs. 200 when all
  hold, else 503; the JSON says which check failed.
- ``/metrics`` (Prometheus text format, admins only once accounts exist): requests and
  their latency by endpoint, find-similar latency, and, read from the database at each
  scrape, proposals by label and outcome, jobs and images by state. The registry is the
  app's own, so two apps in one process (the tests) never share counters.
- ``labeler.requests`` logs one JSON line per request: method, path, status, ms, user.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from labeler.store import stats
from labeler.web.common import workspace

bp = Blueprint("ops", __name__)
request_log = logging.getLogger("labeler.requests")
FIND_SIMILAR = "api.matching.find_similar"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _DatabaseCollector(Collector):
    """Gauges read from the database when Prometheus scrapes (never stale, never double)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        proposals = GaugeMetricFamily(
            "labeler_proposals", "Proposed boxes (matcher, import) by label and outcome",
            labels=["dataset", "label", "outcome"],
        )  # fmt: skip
        jobs = GaugeMetricFamily("labeler_jobs", "Jobs by kind and state", labels=["kind", "state"])
        images = GaugeMetricFamily(
            "labeler_images", "Images by dataset and state", labels=["dataset", "state"]
        )
        with self.app.extensions["labeler.workspace"].sessions() as s:
            created: dict[tuple[str, str], int] = {}
            for dataset, label, status, n in stats.proposal_counts(s):
                created[dataset, label] = created.get((dataset, label), 0) + n
                if status != "proposed":
                    proposals.add_metric([dataset, label, status], n)
            for (dataset, label), n in created.items():
                proposals.add_metric([dataset, label, "created"], n)
            for kind, status, n in stats.job_counts(s):
                jobs.add_metric([kind, status], n)
            for dataset, state, n in stats.image_counts(s):
                images.add_metric([dataset, state], n)
        yield from (proposals, jobs, images)


class Metrics:
    """The app's Prometheus registry and the request metrics in it."""

    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "labeler_http_requests", "HTTP requests by endpoint and status",
            ["method", "endpoint", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "labeler_http_request_duration_seconds", "Request latency by endpoint",
            ["method", "endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.find_similar = Histogram(
            "labeler_find_similar_duration_seconds", "Latency of find similar, answered or not",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_DatabaseCollector(app))


def _user() -> str:
    who = g.get("identity")
    return who.name if who is not None else "-"


def _start_timer() -> None:
    g.started = time.perf_counter()


def _record(response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    # The endpoint (a route, not the URL) keeps the label set small; unmatched is "none".
    endpoint = request.endpoint or "none"
    metrics: Metrics = current_app.extensions["labeler.metrics"]
    metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
    metrics.latency.labels(request.method, endpoint).observe(elapsed)
    if endpoint == FIND_SIMILAR:
        metrics.find_similar.observe(elapsed)
    line = {"method": request.method, "path": request.path, "status": response.status_code,
            "ms": round(elapsed * 1000, 1), "user": _user()}  # fmt: skip
    request_log.info(json.dumps(line, ensure_ascii=False))
    return response


@bp.get("/healthz")
def show_health():
    checks: dict[str, dict] = {}
    try:
        found = stats.schema(workspace().engine)
        checks["database"] = {"ok": True}
        checks["migrations"] = {"ok": found.up_to_date, "current": list(found.current),
                                "head": list(found.head)}  # fmt: skip
    except Exception as exc:  # any driver's error: the point is to report it, not to crash
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
    checks["job_runner"] = {"ok": current_app.extensions["labeler.jobs"].alive}
    ok = all(c["ok"] for c in checks.values())
    return jsonify({"ok": ok, "checks": checks}), 200 if ok else 503


@bp.get("/metrics")
def show_metrics():
    registry = current_app.extensions["labeler.metrics"].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_ops(app: Flask) -> None:
    """Metrics and request logs; call before every other ``before_request`` hook so that a
    request any of them refuses is timed and logged too."""
    app.extensions["labeler.metrics"] = Metrics(app)
    app.before_request(_start_timer)
    app.after_request(_record)
    app.register_blueprint(bp)
