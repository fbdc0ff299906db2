"""Completeness: is a dataset fully labeled? The release gate behind ``labeler check``.

:mod:`~labeler.completeness.report` runs the checks (counting in SQL,
:mod:`~labeler.completeness.sql`), :mod:`~labeler.completeness.duplicates` finds duplicate
images and near-duplicate boxes, :mod:`~labeler.completeness.files` verifies files on disk and
:mod:`~labeler.completeness.text` renders a report for the terminal.
"""

from labeler.completeness.report import (
    CHECKS,
    CompletenessReport,
    check_dataset,
    check_workspace,
)
from labeler.completeness.text import format_text

__all__ = ["CHECKS", "CompletenessReport", "check_dataset", "check_workspace", "format_text"]
