"""The four roles (Django groups) and what each may do.

Groups are created by a data migration; their permissions are synced after
every migrate from ROLE_PERMISSIONS, so apps added later extend roles in code.
"""

from __future__ import annotations

from typing import Any

OPERATOR = "operator"
SUPPORT = "support"
CHAOS_OPERATOR = "chaos_operator"
AUDITOR = "auditor"
ROLES = (OPERATOR, SUPPORT, CHAOS_OPERATOR, AUDITOR)

# "app_label.model": actions. Missing models (apps not installed yet) are skipped.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    OPERATOR: {
        "catalog.service": ("view", "add", "change"),
        "accounts.integrationtoken": ("view", "add", "change"),
        "events.outboxevent": ("view",),
        "breakers.circuitbreaker": ("view", "add", "change"),
        "breakers.breakertransition": ("view",),
        "django_celery_beat.periodictask": ("view",),
        "webhooks.webhooksource": ("view", "add", "change", "delete"),
        "webhooks.webhookdestination": ("view", "add", "change", "delete"),
        "webhooks.webhookevent": ("view",),
        "webhooks.delivery": ("view",),
        "webhooks.deliveryattempt": ("view",),
        "webhooks.webhookrejection": ("view",),
        "webhooks.webhookfailure": ("view",),
        "runbooks.runbook": ("view", "add", "change"),
        "runbooks.runbookversion": ("view",),
        "chaos.chaosdrill": ("view",),  # chaos (issue 14): operators read drills and runs
        "chaos.chaosrun": ("view",),
        "chaos.chaosjournalentry": ("view",),
    },
    SUPPORT: {
        "catalog.service": ("view",),
        "breakers.circuitbreaker": ("view",),
        "runbooks.runbook": ("view",),
        "runbooks.runbookversion": ("view",),
        "chaos.chaosdrill": ("view",),  # chaos (issue 14): support reads drills and runs
        "chaos.chaosrun": ("view",),
    },
    CHAOS_OPERATOR: {
        "catalog.service": ("view",),
        "breakers.circuitbreaker": ("view",),
        # chaos drills (issue 14): changes go through the services, which check the role again
        "chaos.chaosscenario": ("view",),
        "chaos.chaosdrill": ("view", "add", "change"),
        "chaos.chaosrun": ("view",),
        "chaos.chaosjournalentry": ("view",),
        "chaos.chaosfault": ("view",),
        "chaos.chaoskillswitch": ("view", "add", "change"),
    },
    AUDITOR: {
        "audit.auditentry": ("view",),
        "auditlog.logentry": ("view",),
        "catalog.service": ("view",),
        "accounts.integrationtoken": ("view",),
        "chaos.chaosrun": ("view",),  # chaos (issue 14): auditors read run journals
        "chaos.chaosjournalentry": ("view",),
    },
}

# Which token scopes each role could use itself, so may put on a token it issues (#8: an
# operator must not mint itself `admin` or `audit:read`). Superusers and the shell (system
# actors) may grant every scope. Issuing at all also needs the add permission on tokens,
# which only operators (and superusers) hold. `admin` implies every scope: superusers only.
ROLE_TOKEN_SCOPES: dict[str, frozenset[str]] = {
    OPERATOR: frozenset({
        "read", "alerts:write", "incidents:write", "slo:write", "dlq:write", "breakers:write",
        "webhooks:admin", "runbooks:write", "heartbeats:write", "catalog:write",
    }),
    SUPPORT: frozenset({"read"}),
    CHAOS_OPERATOR: frozenset({"read", "chaos:write"}),
    AUDITOR: frozenset({"read", "audit:read"}),
}

# Roles that may sign in to the admin (is_staff is granted with them by seed/admin).
STAFF_ROLES = set(ROLES)


def user_roles(user: Any) -> set[str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_opsportal_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._opsportal_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """Superusers have every role."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or bool(user_roles(user) & set(roles))


def sync_role_permissions(sender=None, **kwargs) -> None:
    """Make each role's group hold exactly its ROLE_PERMISSIONS (post_migrate, once per app).

    With an app config as ``sender`` only that app's permissions are synced (its permissions were
    just created by the same signal): an app with no role permissions costs no query, so a
    migrate or a test database flush does not re-sync every role 21 times (≈2 s per flush). With
    no sender, every role is synced in full.
    """
    from django.contrib.auth.models import Group, Permission
    from django.db.utils import OperationalError, ProgrammingError

    scope = None if sender is None else getattr(sender, "label", None)
    wanted: dict[str, set[tuple[str, str]]] = {
        role: {(label.split(".")[0], f"{action}_{label.split('.')[1]}") for label, actions in perms.items()
               for action in actions if scope is None or label.split(".")[0] == scope}
        for role, perms in ROLE_PERMISSIONS.items()}
    if scope is not None and scope != "accounts" and not any(wanted.values()):
        return  # nothing of this app's is in a role (and the groups are ensured with accounts)
    try:
        perms = Permission.objects.all() if scope is None else Permission.objects.filter(content_type__app_label=scope)
        ids = {(app, codename): pk for app, codename, pk in perms.values_list("content_type__app_label", "codename", "pk")}
        for role, keys in wanted.items():
            group, _ = Group.objects.get_or_create(name=role)
            have_qs = group.permissions.all() if scope is None else group.permissions.filter(content_type__app_label=scope)
            have = set(have_qs.values_list("pk", flat=True))
            want = {ids[k] for k in keys if k in ids}  # missing models (apps not installed yet) are skipped
            if have - want:
                group.permissions.remove(*(have - want))
            if want - have:
                group.permissions.add(*(want - have))
    except (OperationalError, ProgrammingError):  # tables not there yet (partial migrate)
        return
