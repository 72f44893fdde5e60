from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "opsportal.accounts"
    label = "accounts"
    verbose_name = "Accounts and integration tokens"

    def ready(self) -> None:
        from django.contrib.auth import signals as auth_signals
        from django.db.models.signals import post_migrate

        from opsportal.accounts import receivers, roles, schema  # noqa: F401 - schema registers an extension

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="accounts.sync_role_permissions")
        auth_signals.user_logged_in.connect(receivers.on_login, dispatch_uid="accounts.audit_login")
        auth_signals.user_logged_out.connect(receivers.on_logout, dispatch_uid="accounts.audit_logout")
        auth_signals.user_login_failed.connect(receivers.on_login_failed, dispatch_uid="accounts.audit_login_failed")
