"""The ``labeler`` command group: lazy sub-commands, version, help."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from labeler import __version__
from labeler.cli import COMMANDS, cli


def test_version_and_help_list_commands():
    runner = CliRunner()
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("match", "init", "ingest"):
        assert name in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_every_mapped_command_imports():
    # A typo in COMMANDS or a module that fails to import must fail here, not for a user.
    for name in COMMANDS:
        assert cli.get_command(None, name) is not None, name


def test_console_script_runs_without_importing_heavy_modules():
    code = (
        "import sys; from labeler.cli import cli; cli.get_command(None, 'match');"
        "heavy = [m for m in ('dvc', 'flask', 'label_studio_sdk') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
