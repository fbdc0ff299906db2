"""The Versions pages: every dataset's versions, a diff view, and "Create version".

Create shows the completeness report first; the form then POSTs JSON (with the CSRF header,
from ``static/versions.js``) to ``/datasets/<id>/versions``, which runs
:func:`labeler.versioning.create_version` under the same cross-process lock as the CLI.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, render_template, request, url_for

from labeler.store.browsing import list_datasets
from labeler.store.models import Dataset
from labeler.store.queries import require
from labeler.web.common import workspace
from labeler.web.errors import ApiError, bad_request, field, invalid, json_body

bp = Blueprint("versions", __name__)
WEB_LOCK_TIMEOUT = 30.0  # a browser request should not hang for the CLI's 10 minutes


def _datasets() -> list[tuple[int, str]]:
    with workspace().sessions() as s:
        return [(d.id, d.name) for d in list_datasets(s)]


def _dataset_or_404(dataset_id: int) -> tuple[int, str]:
    with workspace().sessions() as s:
        ds = require(s, Dataset, dataset_id)
        return ds.id, ds.name


def _default_remote() -> str | None:
    """DVC's default remote (``core.remote`` of ``.dvc/config`` or ``config.local``), if any:
    Push is offered only with one, instead of failing with an empty ``dvc push`` error."""
    import configparser

    root = workspace().root / ".dvc"
    parser = configparser.ConfigParser()
    parser.read([root / "config", root / "config.local"], encoding="utf-8")
    return parser.get("core", "remote", fallback=None) or None


def _versions(name: str) -> list:
    from labeler.versioning import VersionError, list_versions

    try:
        return list_versions(workspace(), name)
    except VersionError:  # a name git refuses as a tag pattern has no versions
        return []


@bp.get("/versions")
def list_all_versions():
    items = [{"id": i, "name": n, "versions": _versions(n)} for i, n in _datasets()]
    return render_template("versions.html", datasets=items, dataset=None)


@bp.get("/datasets/<int:dataset_id>/versions")
def list_dataset_versions(dataset_id: int):
    from labeler.versioning.snapshot import gate_text, run_gate

    ds_id, name = _dataset_or_404(dataset_id)
    report = run_gate(workspace(), name)
    return render_template(
        "versions.html",
        dataset={"id": ds_id, "name": name},
        versions=_versions(name),
        report=report,
        report_text=gate_text(report),
        remote=_default_remote(),
    )


@bp.get("/datasets/<int:dataset_id>/versions/diff")
def show_version_diff(dataset_id: int):
    from labeler.versioning import VersionError
    from labeler.versioning.diff import diff_versions

    ds_id, name = _dataset_or_404(dataset_id)
    a, b = request.args.get("a", "").strip(), request.args.get("b", "").strip()
    if not a or not b:
        abort(400, "choose two versions: ?a=v1&b=v2")
    try:
        diff = diff_versions(workspace(), name, a, b)
    except VersionError as exc:
        abort(404, str(exc))
    return render_template(
        "version_diff.html", dataset={"id": ds_id, "name": name}, diff=diff.to_dict()
    )


@bp.post("/datasets/<int:dataset_id>/versions")
def create_dataset_version(dataset_id: int):
    from labeler.versioning import IncompleteDataset, PushFailed, VersionError, create_version

    _, name = _dataset_or_404(dataset_id)
    data = json_body()
    message = field(data, "message", "str").strip()
    if not message:
        raise invalid("field 'message' must say what changed in this version")
    allow = field(data, "allow_incomplete", "bool", required=False, default=False)
    push = field(data, "push", "bool", required=False, default=False)
    if push and _default_remote() is None:
        raise ApiError(
            409,
            "push: no DVC remote is configured, so nothing was created; add one with "
            "`labeler remote add PATH_OR_URL` or untick Push",
        )
    try:
        info, manifest = create_version(
            workspace(),
            name,
            message=message,
            allow_incomplete=allow,
            push=push,
            lock_timeout=WEB_LOCK_TIMEOUT,
        )
    except IncompleteDataset as exc:
        # The domain's message names the CLI flag; a web user has a checkbox instead.
        blockers = list(exc.report.blockers)
        detail = (
            f"{name} is not complete ({'; '.join(blockers)}): finish it, or tick "
            '"Version anyway" to make an incomplete version (its manifest says what is missing)'
        )
        raise ApiError(409, detail, blockers=blockers) from exc
    except PushFailed as exc:
        # DVC sometimes fails without a word on stderr; say so instead of "failed: ;".
        why = "failed without saying why (is the remote reachable?);"
        detail = re.sub(r"failed: *;", why, str(exc))
        raise ApiError(502, detail, tag=exc.version.tag) from exc
    except VersionError as exc:
        raise ApiError(409, str(exc)) from exc
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    body = {
        "tag": info.tag,
        "version": info.number,
        "commit": info.commit,
        "counts": info.counts,
        "complete": manifest["completeness"]["complete"],
        "url": url_for("versions.list_dataset_versions", dataset_id=dataset_id),
    }
    return jsonify(body), 201
