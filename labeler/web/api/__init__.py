"""The JSON API, ``/api/v1`` (a contract): one nested blueprint per resource.

``images`` (session, datasets, images and their files), ``boxes`` (box and image-state
writes), ``labels`` (label classes) and ``matching`` (find similar, propagate, jobs).
"""

from flask import Blueprint

from labeler.web.api import boxes, images, labels, matching

bp = Blueprint("api", __name__, url_prefix="/api/v1")
for _child in (images, boxes, labels, matching):
    bp.register_blueprint(_child.bp)
