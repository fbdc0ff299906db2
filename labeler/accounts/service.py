"""Users and tokens of a workspace: what ``labeler user``/``labeler token`` and the web's
login and bearer checks call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from labeler.accounts.credentials import (
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from labeler.accounts.roles import Identity, check_role
from labeler.store import accounts as q
from labeler.store.queries import NotFound


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    created_at: datetime
    tokens: int


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


def _identity(account, via) -> Identity:
    return Identity(name=account.name, role=account.role, account_id=account.id, via=via)


def has_accounts(ws) -> bool:
    """False: the workspace is in single-user mode (loopback only)."""
    with ws.sessions() as s:
        return q.count_accounts(s) > 0


def add_user(ws, *, name: str, role: str, password: str) -> UserInfo:
    check_role(role)
    password_hash = hash_password(password)
    with ws.sessions.begin() as s:
        account = q.add_account(s, name=name, role=role, password_hash=password_hash)
        return UserInfo(account.name, account.role, account.created_at, 0)


def list_users(ws) -> list[UserInfo]:
    with ws.sessions() as s:
        counts: dict[str, int] = {}
        for _token, name in q.list_tokens(s):
            counts[name] = counts.get(name, 0) + 1
        return [
            UserInfo(a.name, a.role, a.created_at, counts.get(a.name, 0))
            for a in q.list_accounts(s)
        ]


def remove_user(ws, *, name: str) -> None:
    with ws.sessions.begin() as s:
        q.remove_account(s, name)


def create_token(ws, *, name: str) -> str:
    """A new API token of user ``name``: returned once, stored only as its hash."""
    token = new_token()
    with ws.sessions.begin() as s:
        account = q.get_account(s, name)
        q.add_token(s, account=account, digest=token_digest(token), prefix=token[:12])
    return token


def list_tokens(ws, *, name: str | None = None) -> list[TokenInfo]:
    with ws.sessions() as s:
        return [
            TokenInfo(t.id, user, t.prefix, t.created_at, t.last_used_at)
            for t, user in q.list_tokens(s, name)
        ]


def revoke_token(ws, *, ref: str) -> int:
    """Revoke a token given as the token itself, its id (``#12`` or ``12``) or a user name
    (all of that user's tokens). Returns how many were revoked; NotFound when none match."""
    with ws.sessions.begin() as s:
        n = q.revoke_tokens(s, digest=token_digest(ref))
        if not n and ref.lstrip("#").isdigit():
            n = q.revoke_tokens(s, token_id=int(ref.lstrip("#")))
        if not n and q.find_account(s, ref) is not None:
            n = q.revoke_tokens(s, account=q.get_account(s, ref))
            if not n:
                raise NotFound(f"user {ref!r} has no tokens")
        if not n:
            raise NotFound(
                "no such token: give the token, its id (labeler token list) or a user name"
            )
        return n


def authenticate(ws, *, name: str, password: str) -> Identity | None:
    """The identity of ``name`` if ``password`` is theirs; None otherwise (same time taken
    for an unknown name as for a wrong password)."""
    with ws.sessions() as s:
        account = q.find_account(s, name)
        stored = account.password_hash if account is not None else None
        if verify_password(stored, password) and account is not None:
            return _identity(account, "session")
    return None


def identity_for_token(ws, token: str) -> Identity | None:
    with ws.sessions.begin() as s:
        account = q.account_by_token(s, token_digest(token))
        return None if account is None else _identity(account, "token")


def identity_for_session(ws, *, account_id: int, name: str) -> Identity | None:
    """The logged-in account if it still exists under the same name (a removed user's
    cookie stops working at once)."""
    with ws.sessions() as s:
        account = q.find_account(s, name)
        if account is None or account.id != account_id:
            return None
        return _identity(account, "session")


def assign(ws, *, dataset: str, to: str, count: int | None, who: str) -> list[int]:
    """Give user ``to`` the next ``count`` unassigned unfinished images of ``dataset``
    (``None``: all unassigned unfinished ones); the image ids assigned."""
    from labeler.store.queries import get_dataset

    with ws.sessions.begin() as s:
        ds = get_dataset(s, dataset)
        return q.assign_images(s, dataset=ds, account=q.get_account(s, to), count=count, who=who)


def unassign(ws, *, dataset: str, name: str) -> int:
    """Give back every image of ``dataset`` assigned to ``name``; how many."""
    from labeler.store.queries import get_dataset

    with ws.sessions.begin() as s:
        ds = get_dataset(s, dataset)
        return q.unassign_images(s, dataset=ds, account=q.get_account(s, name))
