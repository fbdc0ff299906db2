"""JSON Schema building blocks of ``/api/v1/openapi.json`` (OpenAPI 3.1 uses JSON Schema
2020-12 as it is): references, nullable types, closed response objects and open request
bodies, and the field schemas the responses and requests share."""

from __future__ import annotations

from typing import Any

from labeler.store.models import BOX_STATUSES, IMAGE_STATES
from labeler.store.queries import MAX_LABEL_NAME
from labeler.store.team import ROLES
from labeler.web.errors import MAX_ID

Schema = dict[str, Any]

ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
COUNT: Schema = {"type": "integer", "minimum": 0}
NUMBER: Schema = {"type": "number"}
TEXT: Schema = {"type": "string"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null`` (OpenAPI 3.1: JSON Schema's type list, or ``oneOf`` a ``$ref``)."""
    if "$ref" in schema:
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        return {"oneOf": [{"$ref": schema["$ref"]}, {"type": "null"}], **extra}
    kind = schema["type"]
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    return {**schema, "type": [kind, "null"]}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def closed(properties: dict[str, Schema], description: str = "") -> Schema:
    """A response object: every key present, no others."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {"description": description, **schema} if description else schema


def body(
    properties: dict[str, Schema],
    *,
    required: tuple[str, ...] = (),
    strict: tuple[str, ...] = (),
    **extra: Any,
) -> Schema:
    """A request object. Optional fields also take ``null`` for "not given", as
    :func:`labeler.web.errors.field` reads them (but those in ``strict``); keys the view
    does not read are ignored."""
    props = {
        name: schema if name in required or name in strict else nullable(schema)
        for name, schema in properties.items()
    }
    schema: Schema = {"type": "object", "properties": props, **extra}
    return {**schema, "required": list(required)} if required else schema


IMAGE_ITEM = {
    "id": ID,
    "path": {**TEXT, "description": "relative to the dataset's images/ folder"},
    "width": {"type": "integer", "minimum": 1},
    "height": {"type": "integer", "minimum": 1},
    "state": ref("ImageState"),
}
SCORE = {"type": "number", "minimum": 0, "maximum": 1}
LABEL_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_NAME}
HOTKEY = {"type": "integer", "minimum": 1, "maximum": 9}
GEOMETRY = {
    k: {**NUMBER, "description": d}
    for k, d in (
        ("x", "left edge, px"),
        ("y", "top edge, px"),
        ("w", "width, px (at least 1)"),
        ("h", "height, px (at least 1)"),
    )
}
ENUMS: dict[str, Schema] = {
    "ImageState": {"type": "string", "enum": list(IMAGE_STATES)},
    "BoxStatus": {"type": "string", "enum": list(BOX_STATUSES)},
    "Role": {"type": "string", "enum": list(ROLES)},
}
