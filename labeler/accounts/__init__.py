"""Team accounts: users with roles, password login, API tokens, and who may do what.

``roles`` is the permission table (:data:`~labeler.accounts.roles.PERMISSIONS`);
``credentials`` hashes passwords (argon2id) and tokens; ``service`` is what the CLI and
the web call. No web imports here.
"""

from labeler.accounts.roles import (
    ACTIONS,
    PERMISSIONS,
    Action,
    Forbidden,
    Identity,
    allows,
    require,
    state_action,
)
from labeler.accounts.service import (
    TokenInfo,
    UserInfo,
    add_user,
    assign,
    authenticate,
    create_token,
    has_accounts,
    identity_for_session,
    identity_for_token,
    list_tokens,
    list_users,
    remove_user,
    revoke_token,
    unassign,
)

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "Action",
    "Forbidden",
    "Identity",
    "TokenInfo",
    "UserInfo",
    "add_user",
    "allows",
    "assign",
    "authenticate",
    "create_token",
    "has_accounts",
    "identity_for_session",
    "identity_for_token",
    "list_tokens",
    "list_users",
    "remove_user",
    "require",
    "revoke_token",
    "state_action",
    "unassign",
]
