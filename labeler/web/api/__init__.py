"""The JSON API, ``/api/v1`` (a contract): one nested blueprint per resource.

``images`` (session, datasets, images and their files), ``boxes`` (box and image-state
writes), ``labels`` (label classes), ``matching`` (find similar, propagate, jobs) and ``team``
(users, assignments, the review queue, per-user figures); ``openapi.json`` describes them all
(:mod:`labeler.web.openapi`).
"""

from flask import Blueprint

from labeler.web import openapi
from labeler.web.api import boxes, images, labels, matching, team

bp = Blueprint("api", __name__, url_prefix="/api/v1")
for _child in (images, boxes, labels, matching, team, openapi):
    bp.register_blueprint(_child.bp)
