"""Accounts: local users with argon2id passwords and roles, API tokens, server-side browser sessions,
login auditing and throttling."""

from threatwatch.accounts.passwords import MIN_PASSWORD_LENGTH, password_problem
from threatwatch.accounts.sessions import (
    end_session,
    end_user_sessions,
    live_session_counts,
    sign_out_everywhere,
    start_session,
    user_for_session,
)
from threatwatch.accounts.throttle import Throttled, login_throttle, record_throttled, unlock_login
from threatwatch.accounts.tokens import (
    create_api_token,
    list_api_tokens,
    revoke_api_token,
    user_for_api_token,
)
from threatwatch.accounts.users import (
    AccountError,
    authenticate,
    check_password,
    create_user,
    get_user,
    list_users,
    password_matches,
    record_login,
    set_active,
    set_password,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "Throttled",
    "authenticate",
    "check_password",
    "create_api_token",
    "create_user",
    "end_session",
    "end_user_sessions",
    "get_user",
    "list_api_tokens",
    "list_users",
    "live_session_counts",
    "login_throttle",
    "password_matches",
    "password_problem",
    "record_login",
    "record_throttled",
    "revoke_api_token",
    "set_active",
    "set_password",
    "sign_out_everywhere",
    "start_session",
    "unlock_login",
    "user_for_api_token",
    "user_for_session",
]
