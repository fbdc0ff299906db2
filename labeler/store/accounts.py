"""Account, token and assignment queries (the models are in :mod:`labeler.store.team`).

Hashing and the role rules live in :mod:`labeler.accounts`; these functions take and
return rows and raise the store's domain errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labeler.store.models import FINISHED_STATES, Dataset, Image, utcnow
from labeler.store.queries import InvalidInput, NotFound
from labeler.store.team import Account, ApiToken, Assignment

MAX_NAME = 200
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def count_accounts(session: Session) -> int:
    return session.scalar(select(func.count(Account.id))) or 0


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.name)))


def find_account(session: Session, name: str) -> Account | None:
    return session.scalar(select(Account).where(Account.name == name))


def get_account(session: Session, name: str) -> Account:
    account = find_account(session, name)
    if account is None:
        known = ", ".join(a.name for a in list_accounts(session)) or "none"
        raise NotFound(f"no user named {name!r} (users: {known})")
    return account


def add_account(session: Session, *, name: str, role: str, password_hash: str) -> Account:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidInput(f"user name must be 1-{MAX_NAME} printable characters, got {name!r}")
    if find_account(session, name) is not None:
        raise InvalidInput(f"there is already a user named {name!r}")
    account = Account(name=name, role=role, password_hash=password_hash)
    session.add(account)
    try:
        session.flush()
    except IntegrityError:  # a concurrent `user add` of the same name
        raise InvalidInput(f"there is already a user named {name!r}") from None
    return account


def remove_account(session: Session, name: str) -> Account:
    """Delete the account, its tokens and its assignments (boxes keep the name)."""
    account = get_account(session, name)
    session.execute(delete(ApiToken).where(ApiToken.account_id == account.id))
    session.execute(delete(Assignment).where(Assignment.account_id == account.id))
    session.delete(account)
    session.flush()
    return account


def add_token(session: Session, *, account: Account, digest: str, prefix: str) -> ApiToken:
    token = ApiToken(account_id=account.id, digest=digest, prefix=prefix)
    session.add(token)
    session.flush()
    return token


def account_by_token(session: Session, digest: str) -> Account | None:
    """The token's account, or None for no such token. Its last use is noted at most once
    a minute: a write per API call would serialise every reader behind SQLite's one writer."""
    row = session.execute(
        select(ApiToken, Account)
        .join(Account, Account.id == ApiToken.account_id)
        .where(ApiToken.digest == digest)
    ).first()
    if row is None:
        return None
    token, account = row
    now = utcnow()
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC datetimes
        last = last.replace(tzinfo=UTC)
    if last is None or now - last > TOKEN_USE_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return account


def list_tokens(session: Session, name: str | None = None) -> list[tuple[ApiToken, str]]:
    q = select(ApiToken, Account.name).join(Account, Account.id == ApiToken.account_id)
    if name is not None:
        q = q.where(Account.id == get_account(session, name).id)
    return [(t, n) for t, n in session.execute(q.order_by(ApiToken.id))]


def revoke_tokens(
    session: Session, *, digest: str | None = None, token_id: int | None = None,
    account: Account | None = None,
) -> int:  # fmt: skip
    """Delete one token (by digest or id) or all of ``account``'s; the number deleted."""
    q = delete(ApiToken)
    if digest is not None:
        q = q.where(ApiToken.digest == digest)
    elif token_id is not None:
        q = q.where(ApiToken.id == token_id)
    elif account is not None:
        q = q.where(ApiToken.account_id == account.id)
    else:
        raise InvalidInput("name a token, a token id or a user")
    return session.execute(q).rowcount


# --- assignments ---


def assignee_id(session: Session, image_id: int) -> int | None:
    return session.scalar(select(Assignment.account_id).where(Assignment.image_id == image_id))


def assignees(session: Session, image_ids: Sequence[int]) -> dict[int, str]:
    """``{image_id: account name}`` of the assigned ones among ``image_ids``."""
    if not image_ids:
        return {}
    q = (
        select(Assignment.image_id, Account.name)
        .join(Account, Account.id == Assignment.account_id)
        .where(Assignment.image_id.in_(image_ids))
    )
    return {image_id: name for image_id, name in session.execute(q)}


def image_access(session: Session, image_ids: Sequence[int]) -> dict[int, tuple[str | None, str]]:
    """``{image_id: (assignee name or None, state)}`` of the known ids among ``image_ids``."""
    if not image_ids:
        return {}
    q = (
        select(Image.id, Account.name, Image.state)
        .outerjoin(Assignment, Assignment.image_id == Image.id)
        .outerjoin(Account, Account.id == Assignment.account_id)
        .where(Image.id.in_(image_ids))
    )
    return {image_id: (name, state) for image_id, name, state in session.execute(q)}


def assign_images(
    session: Session, *, dataset: Dataset, account: Account, count: int | None, who: str
) -> list[int]:
    """Give ``account`` the dataset's first ``count`` unassigned unfinished images by id
    (``None``: all of them); the ids assigned. Unfinished first: a done image needs no one."""
    taken = select(Assignment.image_id).where(Assignment.image_id == Image.id).exists()
    q = (
        select(Image.id)
        .where(Image.dataset_id == dataset.id, ~taken, Image.state.not_in(FINISHED_STATES))
        .order_by(Image.id)
    )
    if count is not None:
        if count < 1:
            raise InvalidInput(f"the number of images must be at least 1, got {count}")
        q = q.limit(count)
    ids = list(session.scalars(q))
    session.add_all(Assignment(image_id=i, account_id=account.id, assigned_by=who) for i in ids)
    try:
        session.flush()
    except IntegrityError:  # another admin assigned some of them at the same moment
        raise InvalidInput(
            "some of these images were just assigned by someone else; retry"
        ) from None
    return ids


def unassign_images(session: Session, *, dataset: Dataset, account: Account) -> int:
    in_dataset = select(Image.id).where(Image.dataset_id == dataset.id)
    q = delete(Assignment).where(
        Assignment.account_id == account.id, Assignment.image_id.in_(in_dataset)
    )
    return session.execute(q.execution_options(synchronize_session=False)).rowcount
