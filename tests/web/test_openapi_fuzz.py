"""schemathesis against a live server over loopback, driven by ``/api/v1/openapi.json``.

One admin's API token (so every operation is allowed and no CSRF token is needed), the demo
workspace with its boxes, a fixed seed and few examples per operation. Each operation's
valid and invalid requests must get no 5xx, only documented statuses and content types,
and bodies that match their schema.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from helpers import threaded_server
from sqlalchemy import update

from labeler.store.models import Job
from labeler.web.openapi import build_spec

# Few examples per operation keep the run to seconds; a deeper run, with another seed:
# LABELER_FUZZ_EXAMPLES=200 LABELER_FUZZ_SEED=7 pytest tests/web/test_openapi_fuzz.py
MAX_EXAMPLES = int(os.environ.get("LABELER_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("LABELER_FUZZ_SEED", "13"))
# Not positive_data_acceptance: a request valid by the schema may still break a rule of the
# data (a label name already taken, an image that does not exist) and rightly get a 4xx.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",  # a body or parameter the schema forbids gets a 4xx
    "missing_required_header",
    "unsupported_method",  # an undescribed method gets 405 with Allow
    "allow_header_conformance",
)


@pytest.fixture(scope="module")
def fuzz_server(_demo_ws_template, tmp_path_factory):
    """``(url, headers)``: a server over a copy of the demo workspace with its boxes and one
    admin account; module-scoped, so every operation's test talks to the same server."""
    import shutil

    from labeler.accounts import add_user, create_token
    from labeler.ingest import load_demo_boxes
    from labeler.workspace import Workspace

    root = tmp_path_factory.mktemp("fuzz") / "ws"
    shutil.copytree(_demo_ws_template, root, symlinks=True)
    ws = Workspace.open(root)
    load_demo_boxes(ws)
    add_user(ws, name="ada", role="admin", password="pass-ada-1234")
    headers = {"Authorization": f"Bearer {create_token(ws, name='ada')}"}
    with threaded_server(ws, secret="fuzz-tests-" + "f" * 32, name="fuzz") as (_app, url):
        yield url, headers
        # Propagate jobs the fuzzer started would keep the job thread busy for minutes.
        with ws.sessions.begin() as s:
            s.execute(update(Job).where(Job.status.in_(("queued", "running")))
                      .values(status="cancelled"))  # fmt: skip
    ws.engine.dispose()


CONFIG = {
    "seed": SEED,
    "suppress-health-check": ["too_slow"],  # generation speed is the machine's, not the API's
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
        "with-security-parameters": False,
    },
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    "request-timeout": 30,  # seconds per request: a hung request fails instead of waiting
}
schema = schemathesis.openapi.from_dict(build_spec(), config=schemathesis.Config.from_dict(CONFIG))


@schema.parametrize()
def test_api_conforms_to_its_openapi(case, fuzz_server):
    url, headers = fuzz_server
    case.call_and_validate(base_url=url, headers=headers)
