"""Query-string parameters of the API and the pages, checked with errors naming the parameter."""

from __future__ import annotations

from flask import request

from labeler.store.models import IMAGE_STATES, Dataset
from labeler.store.queries import find_label
from labeler.web.common import viewer_id
from labeler.web.errors import bad_request, invalid

PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def _number_arg(name: str, kind: type, lo, hi):
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise bad_request(f"query parameter {name!r} must be {what}, got {raw!r}") from None
    if not lo <= value <= hi:  # also refuses NaN
        raise invalid(f"query parameter {name!r} must be in [{lo}, {hi}], got {raw}")
    return value


def int_arg(name: str, *, lo: int, hi: int) -> int | None:
    return _number_arg(name, int, lo, hi)


def float_arg(name: str, *, lo: float, hi: float) -> float | None:
    return _number_arg(name, float, lo, hi)


def choice_arg(name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if raw not in allowed:
        raise invalid(f"query parameter {name!r} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _flag_arg(name: str) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise bad_request(f"query parameter {name!r} must be 1 or 0, got {raw!r}")


def image_filters(dataset: Dataset) -> dict:
    """``state``, ``label`` (name) or ``label_id``, ``undecided``, ``assignee`` (a user
    name) or ``unassigned``, ``page``, ``limit`` checked; an annotator's listing also keeps
    to the images they may see."""
    state = request.args.get("state", "").strip() or None
    if state is not None and state not in IMAGE_STATES:
        raise invalid(f"state must be one of {', '.join(IMAGE_STATES)}, got {state!r}")
    label_id = int_arg("label_id", lo=1, hi=2**62)
    name = request.args.get("label", "").strip()
    if name:  # the name wins over label_id
        label_id = find_label(dataset, name=name).id
    elif label_id is not None:
        find_label(dataset, label_id=label_id)
    return {
        "state": state,
        "label_id": label_id,
        "undecided": _flag_arg("undecided"),
        "after": int_arg("page", lo=0, hi=2**62),
        "limit": int_arg("limit", lo=1, hi=MAX_PAGE_SIZE) or PAGE_SIZE,
        "assignee": "" if _flag_arg("unassigned") else request.args.get("assignee") or None,
        "viewer_id": viewer_id(),
    }
