"""The operations of ``/api/v1/openapi.json``, one entry per route of :mod:`labeler.web.api`.

Keyed by the Flask endpoint; ``tests/web/test_openapi.py`` checks that they are exactly the
``/api/v1`` rules of the app's ``url_map``. Query parameters mirror :mod:`labeler.web.params`
and errors are the shared ``components/responses`` (:data:`ERROR_TEXT`).
"""

from __future__ import annotations

from typing import Any

from labeler.store.models import BOX_STATUSES, IMAGE_STATES
from labeler.web.openapi.schemas import ID, Schema, array, ref
from labeler.web.params import MAX_PAGE_SIZE, PAGE_SIZE

JSON = "application/json"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp")
READ_ERRORS = (400, 401, 403, 404, 422)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 422, 507)
ERROR_TEXT = {
    400: "Malformed request (JSON, a missing or mistyped field) or a Host this server does "
    "not answer to",
    401: "No valid login or API token (workspaces with accounts)",
    403: "Missing or wrong X-CSRF-Token, a foreign Origin, or a role that may not do this",
    404: "Unknown id (or route)",
    409: "Stale version or a state that forbids the change; current is the row as it is",
    413: "Body over the server's limit (1 MB by default)",
    422: "Well-formed but invalid values (unknown label, box outside the image, ...)",
    507: "The database's disk is full; nothing was saved",
}
READ_SECURITY = [{"bearerAuth": []}, {"sessionCookie": []}]
WRITE_SECURITY = [{"bearerAuth": []}, {"sessionCookie": [], "csrfHeader": []}]


def path_id(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def query(name: str, schema: Schema, description: str) -> Schema:
    """An optional query parameter; empty (``?page=``) means not given, as in
    :mod:`labeler.web.params`."""
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "allowEmptyValue": True, "description": description}  # fmt: skip


FLAG = {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no"]}
CURSOR = {"type": "integer", "minimum": 0, "maximum": 2**62}
PAGING = (
    query("page", CURSOR, "the next of the previous page (keyset cursor)"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
          f"page size, default {PAGE_SIZE}"),
)  # fmt: skip


def json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def operation(
    summary: str,
    *,
    tag: str,
    ok: tuple[int, Schema | None] = (200, None),
    params: tuple[Schema, ...] = (),
    request: str | None = None,
    example: dict[str, Any] | None = None,
    request_required: bool = True,
    write: bool = False,
    public: bool = False,
    description: str = "",
    responses: dict[str, Any] | None = None,
) -> Schema:
    """One operation: ``ok`` is the success status and its JSON schema; errors are the
    shared ``components/responses`` of reads or writes."""
    status, schema = ok
    out: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = list(params)
    if request:
        media: dict[str, Any] = {"schema": ref(request)}
        if example is not None:
            media["example"] = example
        out["requestBody"] = {"required": request_required, "content": {JSON: media}}
    found = dict(responses or {})
    if schema is not None:
        found[str(status)] = json_response(summary, schema)
    for code in (400,) if public else WRITE_ERRORS if write else READ_ERRORS:
        found[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    out["responses"] = found
    out["security"] = [{}] if public else WRITE_SECURITY if write else READ_SECURITY
    return out


def _file_response(description: str) -> dict[str, Any]:
    content = {m: {"schema": {"type": "string", "contentMediaType": m}} for m in IMAGE_TYPES}
    return {
        "200": {"description": description, "content": content},
        "304": {"description": "Not modified (conditional request with ETag / date)"},
    }


IMAGE_FILTERS = (
    query("state", {"type": "string", "enum": list(IMAGE_STATES)}, "only images in this state"),
    query("label", {"type": "string"}, "only images with a box of this label (name)"),
    query("label_id", {**ID, "maximum": 2**62}, "as label, by id (label wins)"),
    query("undecided", FLAG, "only images with proposed boxes"),
    query("assignee", {"type": "string"}, "only images assigned to this user"),
    query("unassigned", FLAG, "only unassigned images"),
    *PAGING,
)
BOX_FILTERS = (
    query("status", {"type": "string", "enum": list(BOX_STATUSES)}, "only boxes of it"),
    query("min_score", {"type": "number", "minimum": 0, "maximum": 1},
          "leave out proposals scored below it"),
    query("order", {"type": "string", "enum": ["id", "review"]},
          "review: best first, then top to bottom, left to right"),
)  # fmt: skip


def operations() -> dict[str, tuple[str, str, Schema]]:
    """``{endpoint: (method, OpenAPI path, operation)}`` of every ``/api/v1`` route."""
    ds, im, box = path_id("dataset_id"), path_id("image_id"), path_id("box_id")
    return {
        "api.openapi.show_openapi": ("get", "/api/v1/openapi.json", operation(
            "This document (OpenAPI 3.1), without auth", tag="meta", public=True,
            ok=(200, {"type": "object"}),
        )),
        "api.images.show_session": ("get", "/api/v1/session", operation(
            "Who is asking, and this session's CSRF token", tag="session",
            ok=(200, ref("Session")),
        )),
        "api.images.list_datasets": ("get", "/api/v1/datasets", operation(
            "Every dataset with its counts and labels", tag="datasets",
            ok=(200, array(ref("Dataset"))),
        )),
        "api.images.show_dataset": ("get", "/api/v1/datasets/{dataset_id}", operation(
            "One dataset", tag="datasets", params=(ds,), ok=(200, ref("Dataset")),
        )),
        "api.images.list_dataset_images": ("get", "/api/v1/datasets/{dataset_id}/images",
            operation("A page of the dataset's images, by id", tag="images",
                      params=(ds, *IMAGE_FILTERS), ok=(200, ref("ImagePage")))),
        "api.images.show_image": ("get", "/api/v1/images/{image_id}", operation(
            "An image with its boxes", tag="images", params=(im, *BOX_FILTERS),
            ok=(200, ref("Image")),
            description="An unfinished image opened for the first time gets its labels' "
            "proposals first.",
        )),
        "api.images.send_image_file": ("get", "/api/v1/images/{image_id}/file", operation(
            "The image file (a scaled copy past max)", tag="images",
            params=(im, query("max", {"type": "integer", "minimum": 64, "maximum": 65536},
                              "longest side, px")),
            responses=_file_response("The image"),
        )),
        "api.images.send_thumbnail": ("get", "/api/v1/images/{image_id}/thumbnail", operation(
            "A small JPEG of the image", tag="images", params=(im,),
            responses=_file_response("The thumbnail"),
        )),
        "api.boxes.create_box": ("post", "/api/v1/images/{image_id}/boxes", operation(
            "Add a box (or a proposal) to an image", tag="boxes", params=(im,),
            request="BoxCreate", write=True,
            example={"label": "RBC", "x": 10, "y": 20, "w": 50, "h": 40}, ok=(201, ref("Box")),
            description="The first accepted box puts a new image in progress.",
        )),
        "api.boxes.patch_box": ("patch", "/api/v1/boxes/{box_id}", operation(
            "Change a box at its version", tag="boxes", params=(box,), request="BoxPatch",
            write=True, example={"version": 1, "x": 12, "status": "accepted"}, ok=(200, ref("Box")),
        )),
        "api.boxes.delete_box": ("delete", "/api/v1/boxes/{box_id}", operation(
            "Delete a box (at ?version= or the body's version, when given)", tag="boxes",
            params=(box, query("version", ID, "delete only at this version")),
            request="DeleteBox", request_required=False, example={"version": 1}, write=True,
            ok=(200, ref("Deleted")),
        )),
        "api.boxes.decide_boxes": ("post", "/api/v1/boxes/decide", operation(
            "Accept or reject many boxes at once", tag="boxes", request="DecideBoxes",
            write=True, example={"ids": [1, 2], "status": "accepted"},
            ok=(200, ref("DecideResult")),
        )),
        "api.boxes.set_image_state": ("post", "/api/v1/images/{image_id}/state", operation(
            "Finish an image, or approve it or send it back (reviewers)", tag="images",
            params=(im,), request="ImageStateChange", write=True, example={"state": "done"},
            ok=(200, ref("ImageStateResult")),
        )),
        "api.labels.list_labels": ("get", "/api/v1/datasets/{dataset_id}/labels", operation(
            "The dataset's label classes", tag="labels", params=(ds,),
            ok=(200, array(ref("Label"))),
        )),
        "api.labels.add_label": ("post", "/api/v1/datasets/{dataset_id}/labels", operation(
            "Add a label class", tag="labels", params=(ds,), request="LabelCreate",
            write=True, example={"name": "Neutrophil", "colour": "#3cb44b"}, ok=(201, ref("Label")),
        )),
        "api.labels.edit_label": ("patch", "/api/v1/labels/{label_id}", operation(
            "Rename, recolour or re-key a label", tag="labels",
            params=(path_id("label_id"),), request="LabelEdit", write=True,
            example={"colour": "#4363d8", "hotkey": None},
            ok=(200, ref("Label")),
        )),
        "api.matching.find_similar": ("post", "/api/v1/images/{image_id}/find-similar",
            operation("Propose boxes like the exemplars on this image", tag="matching",
                      params=(im,), request="FindSimilar", write=True,
                      example={"box_ids": [1]},
                      ok=(200, ref("FindSimilarResult")))),
        "api.matching.start_propagate": ("post", "/api/v1/datasets/{dataset_id}/propagate",
            operation("Propose boxes on other images (a background job)", tag="matching",
                      params=(ds,), request="Propagate", write=True,
                      example={"box_ids": [1], "scope": "next", "n": 2},
                      ok=(202, ref("JobStarted")))),
        "api.matching.show_job": ("get", "/api/v1/jobs/{job_id}", operation(
            "A job's progress", tag="matching", params=(path_id("job_id"),),
            ok=(200, ref("Job")),
        )),
        "api.matching.cancel_job": ("post", "/api/v1/jobs/{job_id}/cancel", operation(
            "Cancel a job", tag="matching", params=(path_id("job_id"),), write=True,
            ok=(200, ref("Job")),
        )),
        "api.team.list_users": ("get", "/api/v1/users", operation(
            "Every account (reviewers and admins)", tag="team",
            ok=(200, array(ref("User"))),
        )),
        "api.team.add_user": ("post", "/api/v1/users", operation(
            "Add an account (admins)", tag="team", request="UserCreate", write=True,
            example={"name": "ann", "role": "annotator", "password": "a-long-password"},
            ok=(201, ref("User")),
        )),
        "api.team.remove_user": ("delete", "/api/v1/users/{name}", operation(
            "Remove an account (admins; not your own)", tag="team", write=True,
            params=({"name": "name", "in": "path", "required": True,
                     "schema": {"type": "string"}},),  # fmt: skip
            ok=(200, ref("Removed")),
        )),
        "api.team.assign_images": ("post", "/api/v1/datasets/{dataset_id}/assign", operation(
            "Assign unassigned images to a user", tag="team", params=(ds,),
            request="Assign", write=True, example={"to": "ada", "images": 2},
            ok=(200, ref("Assigned")),
        )),
        "api.team.list_review_queue": ("get", "/api/v1/review-queue", operation(
            "Done and empty images waiting for review", tag="team",
            params=(query("dataset_id", {**ID, "maximum": 2**62}, "only this dataset"),
                    *PAGING),  # fmt: skip
            ok=(200, ref("ReviewPage")),
        )),
        "api.team.show_figures": ("get", "/api/v1/team/figures", operation(
            "Per-user figures", tag="team", ok=(200, array(ref("UserFigures"))),
        )),
    }  # fmt: skip


def error_responses() -> dict[str, Schema]:
    return {f"E{code}": json_response(text, ref("Error")) for code, text in ERROR_TEXT.items()}
