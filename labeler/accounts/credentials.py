"""Password hashes (argon2id, argon2-cffi's recommended parameters) and API tokens.

Tokens are 256 random bits, shown once; only their SHA-256 is stored, so a copy of the
database does not let anyone call the API.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from labeler.store.queries import InvalidInput

TOKEN_PREFIX = "lbl_"
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# Verified when a name is unknown, so a login takes as long either way (no name probing).
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
