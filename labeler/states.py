"""Image states, shared by the store and the (SQLAlchemy-free) format modules.

new -> in_progress -> done | empty (finished) -> approved (a reviewer checked it); a
reviewer's send-back returns a finished image to in_progress.
"""

from __future__ import annotations

from typing import Literal

IMAGE_STATES = ("new", "in_progress", "done", "empty", "approved")
ImageState = Literal["new", "in_progress", "done", "empty", "approved"]
# Finished images are exported in a release and skipped by batch proposals.
FINISHED_STATES = ("done", "empty", "approved")
