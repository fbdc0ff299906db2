"""Prelabel: turn exemplar boxes into proposals, in batch and interactively.

:mod:`~labeler.prelabel.run` is the batch run behind ``labeler prelabel`` (exemplars from
:mod:`~labeler.prelabel.exemplars`, parallel matching in :mod:`~labeler.prelabel.execute`,
one transaction per image in :mod:`~labeler.prelabel.storage`, a summary from
:mod:`~labeler.prelabel.summary`).
"""

from labeler.prelabel.run import PrelabelError, prelabel

__all__ = ["PrelabelError", "prelabel"]
