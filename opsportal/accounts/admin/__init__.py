"""Accounts in the admin: integration tokens (operators) and people and roles (superusers only)."""

from opsportal.accounts.admin import tokens, users  # noqa: F401 - importing registers the ModelAdmins
