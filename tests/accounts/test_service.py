"""Users and tokens on SQLite and PostgreSQL: add, list, remove, create, revoke, log in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labeler import accounts
from labeler.store.queries import InvalidInput, NotFound
from labeler.store.team import Account, ApiToken


def test_users_round_trip(backend_ws):
    ws = backend_ws
    assert not accounts.has_accounts(ws)
    accounts.add_user(ws, name="ada", role="admin", password="correct horse")
    accounts.add_user(ws, name="ann", role="annotator", password="battery staple")
    assert accounts.has_accounts(ws)
    assert [(u.name, u.role) for u in accounts.list_users(ws)] == [
        ("ada", "admin"),
        ("ann", "annotator"),
    ]
    with ws.sessions() as s:
        stored = s.scalar(select(Account.password_hash).where(Account.name == "ann"))
    assert stored.startswith("$argon2id$") and "battery" not in stored
    found = accounts.authenticate(ws, name="ann", password="battery staple")
    assert found.name == "ann" and found.role == "annotator" and found.via == "session"
    assert accounts.authenticate(ws, name="ann", password="wrong password") is None
    assert accounts.authenticate(ws, name="nobody", password="battery staple") is None
    accounts.remove_user(ws, name="ann")
    assert [u.name for u in accounts.list_users(ws)] == ["ada"]
    assert accounts.authenticate(ws, name="ann", password="battery staple") is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "ada", "role": "admin"}, InvalidInput, "already a user named 'ada'"),
        ({"name": "x", "role": "boss"}, ValueError, "role must be one of"),
        ({"name": "  ", "role": "admin"}, InvalidInput, "user name must be"),
        ({"name": "y", "role": "admin", "password": "short"}, ValueError, "at least 8"),
    ],
)
def test_bad_users_are_refused(backend_ws, kwargs, error, match):
    accounts.add_user(backend_ws, name="ada", role="admin", password="correct horse")
    with pytest.raises(error, match=match):
        accounts.add_user(backend_ws, **{"password": "long enough", **kwargs})
    assert [u.name for u in accounts.list_users(backend_ws)] == ["ada"]


def test_tokens_create_use_and_revoke(backend_ws):
    ws = backend_ws
    accounts.add_user(ws, name="ann", role="annotator", password="battery staple")
    first, second = (accounts.create_token(ws, name="ann") for _ in range(2))
    with ws.sessions() as s:
        digests = set(s.scalars(select(ApiToken.digest)))
    assert first not in digests and len(digests) == 2  # only hashes are stored
    assert accounts.identity_for_token(ws, first).name == "ann"
    assert accounts.list_tokens(ws, name="ann")[0].last_used_at is not None
    assert accounts.revoke_token(ws, ref=first) == 1
    assert accounts.identity_for_token(ws, first) is None
    assert accounts.identity_for_token(ws, second).via == "token"
    (left,) = accounts.list_tokens(ws)
    assert accounts.revoke_token(ws, ref=f"#{left.id}") == 1
    third = accounts.create_token(ws, name="ann")
    assert accounts.revoke_token(ws, ref="ann") == 1  # a user name: all of theirs
    assert accounts.identity_for_token(ws, third) is None
    with pytest.raises(NotFound, match="no such token"):
        accounts.revoke_token(ws, ref=third)
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        accounts.create_token(ws, name="nobody")


def test_removing_a_user_drops_their_tokens_and_assignments(backend_ws):
    ws = backend_ws
    accounts.add_user(ws, name="bob", role="annotator", password="battery staple")
    token = accounts.create_token(ws, name="bob")
    assert len(accounts.assign(ws, dataset="demo", to="bob", count=5, who="ada")) == 5
    accounts.remove_user(ws, name="bob")
    assert accounts.identity_for_token(ws, token) is None
    accounts.add_user(ws, name="bob", role="annotator", password="battery staple")
    assert len(accounts.assign(ws, dataset="demo", to="bob", count=None, who="ada")) == 24
