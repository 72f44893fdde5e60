"""Audit actions and event types of accounts: sign-ins, users and roles, tokens.

Every event type here starts with ``auth.`` or ``token.``, so it reaches only the audit
group of the live dashboard (opsportal/events/groups.py).
"""

from enum import StrEnum


class Action(StrEnum):
    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    LOGIN_FAILED = "auth.login_failed"
    USER_CREATE = "user.create"
    USER_ROLES_SET = "user.roles_set"
    USER_DEACTIVATE = "user.deactivate"
    USER_REACTIVATE = "user.reactivate"
    USER_SUPERUSER_SET = "user.superuser_set"
    USER_STAFF_SET = "user.staff_set"
    USER_UPDATE = "user.update"
    USER_PASSWORD_SET = "user.password_set"
    USER_REFUSED = "user.change_refused"
    TOKEN_ISSUE = "token.issue"
    TOKEN_ISSUE_REFUSED = "token.issue_refused"
    TOKEN_REVOKE = "token.revoke"


class Event(StrEnum):
    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    LOGIN_FAILED = "auth.login_failed"
    USER_CREATED = "auth.user_created"
    USER_ROLES_CHANGED = "auth.user_roles_changed"
    USER_DEACTIVATED = "auth.user_deactivated"
    USER_REACTIVATED = "auth.user_reactivated"
    USER_SUPERUSER_CHANGED = "auth.user_superuser_changed"
    USER_STAFF_CHANGED = "auth.user_staff_changed"
    USER_UPDATED = "auth.user_updated"
    USER_PASSWORD_CHANGED = "auth.user_password_changed"
    USER_REFUSED = "auth.user_change_refused"
    TOKEN_ISSUED = "token.issued"
    TOKEN_ISSUE_REFUSED = "token.issue_refused"
    TOKEN_REVOKED = "token.revoked"
