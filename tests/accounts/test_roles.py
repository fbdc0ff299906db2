"""The permission table: every role x action pair, and the state-change rule."""

from __future__ import annotations

import pytest

from labeler.accounts import ACTIONS, Forbidden, Identity, require, state_action

# Written out by hand from the issue (not derived from PERMISSIONS): Y allowed, - forbidden.
#                      annotator reviewer admin
EXPECTED = {
    "view":          "Y Y Y",
    "draw":          "Y Y Y",
    "decide":        "Y Y Y",
    "finish":        "Y Y Y",
    "review":        "- Y Y",
    "manage_labels": "- - Y",
    "manage_users":  "- - Y",
    "assign":        "- - Y",
    "import":        "- - Y",
    "export":        "- - Y",
    "version":       "- - Y",
}  # fmt: skip
ROLES = ("annotator", "reviewer", "admin")
PAIRS = [
    (role, action, EXPECTED[action].split()[i] == "Y")
    for action in EXPECTED
    for i, role in enumerate(ROLES)
]


def test_the_table_covers_every_action():
    assert set(EXPECTED) == set(ACTIONS)


@pytest.mark.parametrize(("role", "action", "allowed"), PAIRS)
def test_role_action(role, action, allowed):
    if allowed:
        require(role, action)
        return
    with pytest.raises(Forbidden) as refused:
        require(role, action)
    needed = "reviewer" if action == "review" else "admin"
    assert refused.value.needed == needed and refused.value.role == role
    assert f"needs the {needed} role (you are {role})" in str(refused.value)


@pytest.mark.parametrize(
    ("new", "current", "comment", "action"),
    [
        ("done", "in_progress", False, "finish"),
        ("empty", "new", False, "finish"),
        ("in_progress", "done", False, "finish"),  # reopening one's own finished image
        ("approved", "done", False, "review"),
        ("in_progress", "done", True, "review"),  # a send-back
        ("done", "approved", False, "review"),  # changing an approved image
    ],
)
def test_state_changes(new, current, comment, action):
    assert state_action(new_state=new, current_state=current, comment=comment) == action


def test_who_sees_which_image():
    ann = Identity(name="ann", role="annotator", account_id=3, via="token")
    rita = Identity(name="rita", role="reviewer", account_id=2, via="session")
    local = Identity(name="me", role="admin")
    assert ann.may_see(None) and ann.may_see("ann") and not ann.may_see("bob")
    assert rita.may_see("bob") and local.may_see("bob")
    assert not ann.sees_all and rita.sees_all and local.sees_all


@pytest.mark.parametrize(
    ("assignee", "state", "write", "refused"),
    [
        (None, "done", True, None),
        ("ann", "in_progress", True, None),
        ("bob", "new", False, "assigned to bob"),
        (None, "approved", False, None),  # reading an approved image is fine
        (None, "approved", True, "is approved: changing it needs the reviewer role"),
    ],
)
def test_annotator_image_access(assignee, state, write, refused):
    ann = Identity(name="ann", role="annotator", account_id=3, via="token")
    found = ann.image_refusal(image_id=7, assignee=assignee, state=state, write=write)
    assert (found is None) if refused is None else refused in str(found)
    rita = Identity(name="rita", role="reviewer", account_id=2, via="token")
    assert rita.image_refusal(image_id=7, assignee=assignee, state=state, write=write) is None
