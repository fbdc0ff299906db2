"""The ``labeler`` command.

Sub-commands live in ``labeler/commands/<area>.py`` and are imported only when
invoked: DVC, label-studio-sdk and Flask are slow to import, and ``labeler
match`` should not pay for them.
"""

from __future__ import annotations

import importlib

import click

from labeler import __version__

# command name -> "module:attribute"; each module owns its own commands.
COMMANDS: dict[str, str] = {
    "match": "labeler.commands.match:match",
    "init": "labeler.commands.workspace:init",
    "ingest": "labeler.commands.workspace:ingest",
    "prelabel": "labeler.commands.prelabel:prelabel",
    "serve": "labeler.commands.serve:serve",
    "check": "labeler.commands.check:check",
    "export": "labeler.commands.formats:export",
    "import": "labeler.commands.formats:import_",
    "push-labelstudio": "labeler.commands.formats:push_labelstudio",
    "version": "labeler.commands.version:version",
    "remote": "labeler.commands.version:remote",
    "user": "labeler.commands.team:user",
    "token": "labeler.commands.team:token",
    "assign": "labeler.commands.team:assign",
    "unassign": "labeler.commands.team:unassign",
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labeler")
def cli() -> None:
    """Labeler: draw one box, get proposals for every similar object."""


def main() -> None:
    cli()
