"""``labeler user``, ``labeler token``, ``labeler assign``, ``check --require-review`` and a
version that requires review (config), through click's CliRunner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from labeler import accounts
from labeler.cli import cli


def run(ws, *args, env=None, input=None):
    return CliRunner().invoke(cli, [*args, "--workspace", str(ws.root)], env=env, input=input)


def test_user_add_list_remove(demo_ws):
    out = run(demo_ws, "user", "list")
    assert out.exit_code == 0 and "single-user mode" in out.output
    out = run(demo_ws, "user", "add", "ada", "--role", "admin", "--password-env", "PW",
              env={"PW": "correct horse"})  # fmt: skip
    assert out.exit_code == 0, out.output
    out = run(demo_ws, "user", "add", "ann", "--role", "annotator",
              input="battery staple\nbattery staple\n")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert accounts.authenticate(demo_ws, name="ann", password="battery staple") is not None
    listing = run(demo_ws, "user", "list").output.splitlines()
    assert [line.split("\t")[:2] for line in listing] == [["ada", "admin"], ["ann", "annotator"]]
    assert run(demo_ws, "user", "remove", "ann").exit_code == 0
    assert [u.name for u in accounts.list_users(demo_ws)] == ["ada"]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["user", "add", "x", "--role", "boss"], {}, "'boss' is not one of"),
        (["user", "add", "x", "--role", "admin", "--password-env", "NOPE"], {}, "not set"),
        (["user", "add", "x", "--role", "admin", "--password-env", "PW"], {"PW": "short"},
         "at least 8 characters"),
        (["user", "add", "ada", "--role", "admin", "--password-env", "PW"],
         {"PW": "long enough"}, "already a user named 'ada'"),
        (["user", "remove", "nobody"], {}, "no user named 'nobody'"),
        (["token", "create", "nobody"], {}, "no user named 'nobody'"),
        (["token", "revoke", "lbl_nothing"], {}, "no such token"),
        (["assign", "demo", "--to", "ada"], {}, "exactly one of --images N and --all-unassigned"),
        (["assign", "nope", "--to", "ada", "--images", "2"], {}, "no dataset named 'nope'"),
        (["assign", "demo", "--to", "zed", "--all-unassigned"], {}, "no user named 'zed'"),
    ],
)  # fmt: skip
def test_bad_team_commands_are_one_line_errors(demo_ws, args, env, needle):
    accounts.add_user(demo_ws, name="ada", role="admin", password="correct horse")
    out = run(demo_ws, *args, env=env)
    assert out.exit_code in (1, 2) and needle in out.output, out.output
    assert "Traceback" not in out.output


def test_token_create_prints_it_once_and_revoke_ends_it(demo_ws):
    accounts.add_user(demo_ws, name="ann", role="annotator", password="battery staple")
    out = run(demo_ws, "token", "create", "ann")
    token = out.output.strip()
    assert out.exit_code == 0 and token.startswith("lbl_")
    assert accounts.identity_for_token(demo_ws, token).name == "ann"
    listing = run(demo_ws, "token", "list").output
    assert "ann" in listing and token not in listing and token[:12] in listing
    out = run(demo_ws, "token", "revoke", token)
    assert out.exit_code == 0 and "Revoked 1 token" in out.output
    assert accounts.identity_for_token(demo_ws, token) is None


def test_assign(demo_ws):
    accounts.add_user(demo_ws, name="ann", role="annotator", password="battery staple")
    accounts.add_user(demo_ws, name="bob", role="annotator", password="battery staple")
    out = run(demo_ws, "assign", "demo", "--to", "ann", "--images", "5")
    assert out.exit_code == 0 and "Assigned 5 image(s) of 'demo' to 'ann'" in out.output
    out = run(demo_ws, "assign", "demo", "--to", "bob", "--all-unassigned")
    assert "Assigned 19 image(s)" in out.output
    assert "Assigned 0 image(s)" in run(demo_ws, "assign", "demo", "--to", "ann",
                                        "--all-unassigned").output  # fmt: skip
    out = run(demo_ws, "unassign", "demo", "--from", "bob")
    assert out.exit_code == 0 and "Unassigned 19 image(s)" in out.output
    assert "Assigned 19 image(s)" in run(demo_ws, "assign", "demo", "--to", "ann",
                                         "--all-unassigned").output  # fmt: skip


def test_check_require_review(check_ws):
    assert run(check_ws, "check", "--strict", "-q").exit_code == 0
    out = run(check_ws, "check", "--strict", "-q", "--require-review")
    assert out.exit_code == 3
    assert "24 finished images not approved by a reviewer" in out.output


def test_version_create_requires_review_by_config(version_ws):
    from sqlalchemy import update

    from labeler.store.models import Image
    from labeler.workspace import CONFIG_DIR, CONFIG_FILE, Workspace

    cfg = version_ws.root / CONFIG_DIR / CONFIG_FILE
    cfg.write_text(cfg.read_text() + "require_review = true\n")
    ws = Workspace.open(version_ws.root)
    out = run(ws, "version", "create", "demo", "-m", "first")
    assert out.exit_code != 0 and "not approved by a reviewer" in out.output
    with ws.sessions.begin() as s:
        s.execute(update(Image).values(state="approved"))
    out = run(ws, "version", "create", "demo", "-m", "first")
    assert out.exit_code == 0, out.output
