"""Configurable annotator keys: ``.labeler/hotkeys.json`` of the workspace.

The file maps an action name (the ``action`` column of ``static/annotator/keys.js``, shown in
the ``?`` help) to the keys that run it, e.g. ``{"done": ["d", "Enter"], "accept": ["a"]}``;
actions it does not name keep their default keys. A broken file never stops the annotator:
the page gets the defaults and says which file and entry is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from labeler.workspace import Workspace

HOTKEYS_FILE = "hotkeys.json"
MAX_KEYS = 8


def _checked(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise ValueError("must be a JSON object: {action: [key, ...]}")
    out: dict[str, list[str]] = {}
    for action, keys in raw.items():
        if isinstance(keys, str):
            keys = [keys]
        if (
            not isinstance(keys, list)
            or not 1 <= len(keys) <= MAX_KEYS
            or not all(isinstance(k, str) and 0 < len(k) <= 20 for k in keys)
        ):
            raise ValueError(f"{action!r} must be a key or a list of 1 to {MAX_KEYS} keys")
        out[str(action)] = keys
    return out


def load_hotkeys(ws: Workspace) -> dict[str, Any]:
    """``{"keys": {action: [key, ...]}, "error": str | None}`` from the workspace's file."""
    path = ws.root / ".labeler" / HOTKEYS_FILE
    if not path.exists():
        return {"keys": {}, "error": None}
    try:
        return {"keys": _checked(json.loads(path.read_text(encoding="utf-8"))), "error": None}
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return {"keys": {}, "error": f".labeler/{HOTKEYS_FILE}: {exc}; using the default keys"}
