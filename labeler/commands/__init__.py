"""Sub-commands of ``labeler``, one module per area (see ``labeler.cli.COMMANDS``)."""
