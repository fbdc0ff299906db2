"""Password hashes (argon2id) and API tokens: never stored in the clear."""

from __future__ import annotations

import pytest

from labeler.accounts.credentials import (
    hash_password,
    new_token,
    token_digest,
    verify_password,
)


def test_password_hash_is_argon2id_and_verifies():
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize("stored", [None, "", "not-a-hash"])
def test_verify_never_accepts_a_missing_or_broken_hash(stored):
    assert not verify_password(stored, "not a password of anyone")


def test_short_passwords_are_refused():
    with pytest.raises(ValueError, match="at least 8 characters"):
        hash_password("short")


def test_tokens_are_random_and_hashed():
    a, b = new_token(), new_token()
    assert a != b and a.startswith("lbl_") and len(a) > 40
    assert token_digest(a) == token_digest(a) != token_digest(b)
    assert len(token_digest(a)) == 64 and a not in token_digest(a)
