"""Labeler: semi-automatic bounding-box labeling.

Draw one box; Labeler proposes every similar object by template matching
(:mod:`labeler.matching`), and the annotator accepts or rejects the proposals.
"""

__version__ = "0.1.0"
