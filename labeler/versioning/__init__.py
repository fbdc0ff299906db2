"""Dataset versions: a label snapshot, ``dvc add`` and a git tag ``NAME@vN`` per release.

:mod:`~labeler.versioning.versions` creates, lists and checks out versions;
:mod:`~labeler.versioning.repo` runs git and DVC under one cross-process lock;
:mod:`~labeler.versioning.snapshot` writes the label files and the completeness gate;
:mod:`~labeler.versioning.diff` compares two versions.
"""

from labeler.versioning.repo import VersionError, git, version_lock
from labeler.versioning.versions import (
    IncompleteDataset,
    PushFailed,
    VersionInfo,
    add_remote,
    check_name,
    checkout_version,
    create_version,
    get_version,
    list_versions,
    parse_version,
    restore_database,
    version_tag,
)

__all__ = [
    "IncompleteDataset",
    "PushFailed",
    "VersionError",
    "VersionInfo",
    "add_remote",
    "check_name",
    "checkout_version",
    "create_version",
    "get_version",
    "git",
    "list_versions",
    "parse_version",
    "restore_database",
    "version_lock",
    "version_tag",
]
