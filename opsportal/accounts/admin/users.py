"""People and roles in the admin, rebuilt on the accounts services (#7 item 4).

Django's stock User and Group admin write rows directly and nothing reaches the audit trail.
Here every save is validated by the form and done by the services: adding a user to a role,
changing superuser or staff status, deactivating — each one audit entry with before/after
and one event.

Who may do what (least privilege, docs/security.md "Roles, scopes and tokens"):

- the user admin is for **superusers only**: no role (operator included) sees or changes
  users, because roles are privileges and only superusers grant them;
- roles are the four groups of ``roles.ROLES``; a user's groups can only be those, and
  per-user permissions are not offered (access comes from roles only);
- groups are read-only here: their permissions are declared in code (``ROLE_PERMISSIONS``)
  and re-synced on every migrate;
- nobody deletes users (audit entries point at them): deactivate instead; nobody removes
  their own access or superuser status.
"""

from __future__ import annotations

from contextvars import ContextVar

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from audit.actors import Actor
from opsportal.accounts.roles import ROLES
from opsportal.accounts.services import (
    UserChangeRefused,
    user_create,
    user_deactivate,
    user_reactivate,
    user_roles_set,
    user_set_password,
    user_set_staff,
    user_set_superuser,
    user_update,
)
from opsportal.accounts.services.users import PROFILE_FIELDS
from opsportal.common.admin import ReadOnlyAdminMixin, reason_action

User = get_user_model()
ROLES_HELP = (
    "Roles are privileges: operator (run the portal), support (read incidents and runbooks), "
    "chaos_operator (chaos drills), auditor (the audit trail). Each change is audited."
)


def _is_superuser(request) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def _roles_field(form: forms.Form) -> None:
    field = form.fields.get("groups")
    if field is not None:
        field.queryset = Group.objects.filter(name__in=ROLES).order_by("name")
        field.label = "Roles"
        field.help_text = ROLES_HELP
        field.widget = forms.CheckboxSelectMultiple(choices=field.choices)


class PortalUserChangeForm(UserChangeForm):
    """Validation only; the admin's save_model calls one service per changed aspect."""

    request_user = None  # set per request by get_form

    class Meta(UserChangeForm.Meta):
        fields = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "groups")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _roles_field(self)

    def clean(self):
        cleaned = super().clean()
        me = self.request_user
        if me is not None and self.instance.pk == me.pk:
            if "is_active" in self.changed_data and not cleaned.get("is_active"):
                self.add_error("is_active", "you cannot remove your own access; ask another superuser")
            if "is_superuser" in self.changed_data and not cleaned.get("is_superuser"):
                self.add_error("is_superuser", "you cannot remove your own superuser status; ask another superuser")
        return cleaned


class PortalUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        fields = ("username", "email", "is_superuser", "groups")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _roles_field(self)


# The password view builds its form itself; the acting user reaches it through this
# context variable (per thread / task, unlike an attribute on the shared ModelAdmin).
_password_actor: ContextVar = ContextVar("accounts_admin_password_actor", default=None)


class PortalPasswordChangeForm(AdminPasswordChangeForm):
    def save(self, commit=True):
        """Set the password through the service (audited, without the password)."""
        actor = _password_actor.get()
        if actor is None:
            raise UserChangeRefused("the password form is used outside the user admin")
        usable = self.cleaned_data.get("set_usable_password", True)
        self.user = user_set_password(
            user_id=self.user.pk,
            password=self.cleaned_data["password1"] if usable else None,
            actor=actor,
            source="admin",
        )
        return self.user


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class PortalUserAdmin(DjangoUserAdmin):
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    change_password_form = PortalPasswordChangeForm
    list_display = ("username", "email", "role_list", "is_active", "is_staff", "is_superuser", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {
            "fields": ("is_active", "is_staff", "is_superuser", "groups"),
            "description": "Staff status opens the admin; roles decide what a person sees and does there and on /ops/.",
        }),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        ("Access", {"classes": ("wide",), "fields": ("email", "is_superuser", "groups")}),
    )
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ()
    actions = ["deactivate_users"]

    @admin.display(description="roles")
    def role_list(self, obj) -> str:
        return ", ".join(sorted(g.name for g in obj.groups.all())) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    # --- superusers only -----------------------------------------------------------------
    def has_module_permission(self, request):
        return _is_superuser(request)

    def has_view_permission(self, request, obj=None):
        return _is_superuser(request)

    def has_add_permission(self, request):
        return _is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return _is_superuser(request)

    def has_delete_permission(self, request, obj=None):
        return False  # audit entries point at users: deactivate instead

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request_user = request.user  # a fresh class per call (modelform_factory)
        return form

    def user_change_password(self, request, id, form_url=""):
        reset = _password_actor.set(Actor.from_request(request))
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _password_actor.reset(reset)

    # --- writes: one service per changed aspect ---------------------------------------------
    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        data = form.cleaned_data
        if not change:
            usable = data.get("set_usable_password", True)
            user = user_create(
                username=data["username"],
                password=data.get("password1") if usable else None,
                email=data.get("email", ""),
                roles=[g.name for g in data.get("groups", [])],
                is_superuser=bool(data.get("is_superuser")),
                actor=actor,
                source="admin",
            )
            obj.pk = obj.id = user.pk
            obj.is_staff = user.is_staff
            obj._state.adding = False
            return
        changed = set(form.changed_data)
        profile = {f: data[f] for f in PROFILE_FIELDS if f in changed}
        if profile:
            user_update(user_id=obj.pk, actor=actor, source="admin", **profile)
        if "groups" in changed:
            user_roles_set(user_id=obj.pk, roles=[g.name for g in data["groups"]], actor=actor, source="admin")
        if "is_superuser" in changed:
            user_set_superuser(user_id=obj.pk, is_superuser=data["is_superuser"], actor=actor, source="admin")
        if "is_staff" in changed:
            user_set_staff(user_id=obj.pk, is_staff=data["is_staff"], actor=actor, source="admin")
        if "is_active" in changed:
            (user_reactivate if data["is_active"] else user_deactivate)(user_id=obj.pk, actor=actor, source="admin")

    def save_related(self, request, form, formsets, change):
        pass  # roles were set by user_roles_set / user_create; form.save_m2m() would bypass the audit

    # --- deactivate with a reason ----------------------------------------------------------
    @admin.action(description="Deactivate selected users (asks for a reason)", permissions=["change"])
    def deactivate_users(self, request, queryset):
        active = queryset.filter(is_active=True).exclude(pk=request.user.pk).order_by("username")

        def perform(reason: str) -> None:
            actor = Actor.from_request(request)
            done = 0
            for user in active:
                try:
                    user_deactivate(user_id=user.pk, actor=actor, reason=reason, source="admin")
                    done += 1
                except (UserChangeRefused, ValidationError) as exc:
                    messages.warning(request, f"{user.get_username()}: {exc}")
            messages.success(request, f"Deactivated {done} user(s); their sessions and live sockets end now.")

        return reason_action(
            self, request, active, action="deactivate_users", label="Deactivate", perform=perform,
            title="Deactivate users",
            intro="These people can no longer sign in; their open sessions and live-dashboard sockets end.",
            describe=lambda u: f"{u.get_username()} ({', '.join(sorted(g.name for g in u.groups.all())) or 'no role'})",
            empty_message="None of the selected users is active (or only you are selected: you cannot deactivate yourself).",
        )


@admin.register(Group)
class RoleGroupAdmin(ReadOnlyAdminMixin, DjangoGroupAdmin):
    """Roles are declared in code (opsportal/accounts/roles.py); the admin shows them."""

    list_display = ("name", "member_count")
    fields = ("name", "permissions")

    @admin.display(description="members")
    def member_count(self, obj) -> int:
        return obj.user_set.count()

    def has_module_permission(self, request):
        return _is_superuser(request)

    def has_view_permission(self, request, obj=None):
        return _is_superuser(request)
