"""``labeler user``, ``labeler token`` and ``labeler assign``: the team of a workspace.

Whoever can run these can read the workspace's database anyway: they act as the admin.
"""

from __future__ import annotations

import os

import click

from labeler.commands._common import pass_workspace
from labeler.store.team import ROLES


def _password(env_var: str | None) -> str:
    if env_var is None:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    value = os.environ.get(env_var)
    if value is None:
        raise click.ClickException(f"--password-env {env_var}: that variable is not set")
    return value


@click.group()
def user() -> None:
    """Add, list and remove the people who may log in."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What they may do.")
@click.option(
    "--password-env", metavar="VAR", default=None,
    help="Read the password from environment variable VAR (default: prompt for it).",
)  # fmt: skip
@pass_workspace
def add_user(ws, name: str, role: str, password_env: str | None) -> None:
    """Add user NAME with a role: annotator, reviewer or admin."""
    from labeler.accounts import add_user as add

    info = add(ws, name=name, role=role, password=_password(password_env))
    click.echo(f"Added {info.role} {info.name!r}. They log in at the server's /login page.")


@user.command("list")
@pass_workspace
def list_users(ws) -> None:
    """List the users, their roles and how many API tokens each has."""
    from labeler.accounts import list_users as users

    rows = users(ws)
    if not rows:
        click.echo("No users: single-user mode (loopback only). Add one with "
                   "`labeler user add NAME --role admin`.")  # fmt: skip
    for info in rows:
        click.echo(f"{info.name}\t{info.role}\t{info.tokens} token(s)\t"
                   f"since {info.created_at:%Y-%m-%d}")  # fmt: skip


@user.command("remove")
@click.argument("name")
@pass_workspace
def remove_user(ws, name: str) -> None:
    """Remove user NAME, their tokens and their assignments (their boxes keep the name)."""
    from labeler.accounts import remove_user as remove

    remove(ws, name=name)
    click.echo(f"Removed {name!r}.")


@click.group()
def token() -> None:
    """Create, list and revoke API tokens (Authorization: Bearer TOKEN)."""


@token.command("create")
@click.argument("name")
@pass_workspace
def create_token(ws, name: str) -> None:
    """Make an API token for user NAME and print it (only this once)."""
    from labeler.accounts import create_token as create

    click.echo(create(ws, name=name))


@token.command("list")
@click.argument("name", required=False)
@pass_workspace
def list_tokens(ws, name: str | None) -> None:
    """List tokens (id, user, first characters, last use), of user NAME if given."""
    from labeler.accounts import list_tokens as tokens

    for t in tokens(ws, name=name):
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        click.echo(f"#{t.id}\t{t.user}\t{t.prefix}...\tcreated {t.created_at:%Y-%m-%d}"
                   f"\tlast used {used}")  # fmt: skip


@token.command("revoke")
@click.argument("ref", metavar="TOKEN|#ID|NAME")
@pass_workspace
def revoke_token(ws, ref: str) -> None:
    """Revoke a token: the token itself, its id from `token list`, or a user NAME (all of
    their tokens)."""
    from labeler.accounts import revoke_token as revoke

    n = revoke(ws, ref=ref)
    click.echo(f"Revoked {n} token(s).")


@click.command()
@click.argument("dataset")
@click.option("--to", "to", required=True, metavar="NAME", help="The user to assign to.")
@click.option("--images", "count", type=click.IntRange(min=1), default=None, metavar="N",
              help="Assign the next N unassigned unfinished images.")  # fmt: skip
@click.option("--all-unassigned", is_flag=True, help="Assign every unassigned unfinished image.")
@pass_workspace
def assign(ws, dataset: str, to: str, count: int | None, all_unassigned: bool) -> None:
    """Assign images of DATASET to user NAME: their "next image" serves these first."""
    from labeler.accounts import assign as assign_images

    if (count is None) == (not all_unassigned):
        raise click.UsageError("give exactly one of --images N and --all-unassigned")
    ids = assign_images(ws, dataset=dataset, to=to, count=count, who=ws.user)
    click.echo(f"Assigned {len(ids)} image(s) of {dataset!r} to {to!r}.")


@click.command()
@click.argument("dataset")
@click.option("--from", "name", required=True, metavar="NAME", help="Whose images.")
@pass_workspace
def unassign(ws, dataset: str, name: str) -> None:
    """Give back every image of DATASET assigned to user NAME (they become unassigned)."""
    from labeler.accounts import unassign as unassign_images

    n = unassign_images(ws, dataset=dataset, name=name)
    click.echo(f"Unassigned {n} image(s) of {dataset!r} from {name!r}.")
