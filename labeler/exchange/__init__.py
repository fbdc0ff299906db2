"""Exchange: the store <-> label records, then files or Label Studio.

:mod:`~labeler.exchange.export` writes a dataset's records in a format of
:mod:`labeler.formats`, :mod:`~labeler.exchange.imports` reads them back into the store and
:mod:`~labeler.exchange.push` sends tasks and predictions to a Label Studio server.
"""
