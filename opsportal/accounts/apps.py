from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "opsportal.accounts"
    label = "accounts"
    verbose_name = "Accounts and integration tokens"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth import signals as auth_signals
        from django.contrib.sessions.models import Session
        from django.db.models.signals import m2m_changed, post_delete, post_migrate

        from opsportal.accounts import receivers, roles, schema  # noqa: F401 - schema registers an extension

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="accounts.sync_role_permissions")
        auth_signals.user_logged_in.connect(receivers.on_login, dispatch_uid="accounts.audit_login")
        auth_signals.user_logged_out.connect(receivers.on_logout, dispatch_uid="accounts.audit_logout")
        auth_signals.user_login_failed.connect(receivers.on_login_failed, dispatch_uid="accounts.audit_login_failed")
        # Live sockets end with the session or the rights they were opened with (#8 item 8).
        post_delete.connect(receivers.on_session_deleted, sender=Session, dispatch_uid="accounts.session_sockets")
        m2m_changed.connect(receivers.on_groups_changed, sender=get_user_model().groups.through,
                            dispatch_uid="accounts.group_sockets")
