"""Accounts: local users with argon2id passwords and roles, API tokens, login auditing and throttling."""

from threatwatch.accounts.throttle import Throttled, login_throttle, record_throttled
from threatwatch.accounts.tokens import (
    create_api_token,
    list_api_tokens,
    revoke_api_token,
    user_for_api_token,
)
from threatwatch.accounts.users import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    authenticate,
    create_user,
    get_user,
    list_users,
    record_login,
    set_active,
    set_password,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "Throttled",
    "authenticate",
    "create_api_token",
    "create_user",
    "get_user",
    "list_api_tokens",
    "list_users",
    "login_throttle",
    "record_login",
    "record_throttled",
    "revoke_api_token",
    "set_active",
    "set_password",
    "user_for_api_token",
]
