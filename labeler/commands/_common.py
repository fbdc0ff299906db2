"""Click plumbing shared by the ``labeler`` sub-commands.

Usage::

    from labeler.commands._common import friendly_errors, pass_workspace

    @click.command()
    @click.option("--dataset", "-d", required=True)
    @pass_workspace
    def check(ws, dataset):      # ws: labeler.workspace.Workspace
        ...

``pass_workspace`` adds ``--workspace/-w DIR`` (default: ``$LABELER_WORKSPACE``, else
the current folder or its nearest parent that is a workspace), passes the opened
:class:`~labeler.workspace.Workspace` as the keyword ``ws`` and applies
``friendly_errors``. ``friendly_errors`` alone turns the errors a user can fix
(:data:`USER_ERRORS`: no workspace, unknown dataset or label, bad input, missing files,
an unreachable database) into one line ``Error: ...`` and exit status 1 instead of a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

# By name, looked up in sys.modules: an exception can only be an instance of a class whose
# module is loaded, and `labeler match` must not pay for SQLAlchemy and Alembic.
USER_ERRORS = (
    "labeler.workspace:WorkspaceError",
    "labeler.store.queries:NotFound",
    "sqlalchemy.exc:OperationalError",
    "sqlalchemy.exc:ArgumentError",
)
# Not LookupError: a KeyError from a bug must keep its traceback.
BUILTIN_USER_ERRORS = (ValueError, FileNotFoundError, PermissionError)

workspace_option = click.option(
    "--workspace",
    "-w",
    "workspace_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workspace folder (default: $LABELER_WORKSPACE, else this folder or a parent).",
)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, BUILTIN_USER_ERRORS):
        return True
    for spec in USER_ERRORS:
        module_name, name = spec.split(":")
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, name)):
            return True
    return False


def one_line(exc: BaseException) -> str:
    """The first line of an error message (SQLAlchemy appends SQL and a help link)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def friendly_errors(fn):
    """Decorator: user errors become ``Error: <message>`` and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as exc:
            if _is_user_error(exc):
                raise click.ClickException(one_line(exc)) from exc
            raise

    return wrapper


def pass_workspace(fn):
    """Decorator: add ``--workspace/-w`` and call ``fn(..., ws=Workspace)``."""

    @workspace_option
    @functools.wraps(fn)
    @friendly_errors
    def wrapper(*args, workspace_dir: Path | None, **kwargs):
        from labeler.workspace import Workspace

        return fn(*args, ws=Workspace.find(workspace_dir), **kwargs)

    return wrapper
