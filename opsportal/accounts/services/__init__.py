"""The accounts services: the only code that changes tokens, users and roles (public import path)."""

from opsportal.accounts.services.auth import auth_event_record
from opsportal.accounts.services.tokens import (
    TokenError,
    TokenScopeRefused,
    token_issue,
    token_issue_refused,
    token_revoke,
)
from opsportal.accounts.services.users import (
    UserChangeRefused,
    may_manage_users,
    user_change_refused,
    user_create,
    user_deactivate,
    user_reactivate,
    user_roles_set,
    user_set_password,
    user_set_staff,
    user_set_superuser,
    user_update,
)

__all__ = [
    "TokenError", "TokenScopeRefused", "UserChangeRefused", "auth_event_record", "may_manage_users",
    "token_issue", "token_issue_refused", "token_revoke", "user_change_refused", "user_create",
    "user_deactivate", "user_reactivate", "user_roles_set", "user_set_password", "user_set_staff",
    "user_set_superuser", "user_update",
]
