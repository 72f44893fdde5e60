"""Auth signal receivers: interfaces that call the accounts service."""

from audit.actors import Actor
from opsportal.accounts.names import Action
from opsportal.accounts.services import auth_event_record
from opsportal.accounts.sockets import close_session_sockets_on_commit, close_user_sockets_on_commit


def on_login(sender, request, user, **kwargs):
    auth_event_record(action=Action.LOGIN, actor=Actor(user=user), username=user.get_username())


def on_logout(sender, request, user, **kwargs):
    if user is not None:
        auth_event_record(action=Action.LOGOUT, actor=Actor(user=user), username=user.get_username())
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        close_session_sockets_on_commit(session.session_key, "logged out")


def on_session_deleted(sender, instance, **kwargs):
    """A deleted session (logout, clearsessions, an admin) ends the sockets opened with it."""
    close_session_sockets_on_commit(instance.session_key, "session deleted")


def on_groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """Roles changed outside the services (a shell): close the sockets, the re-check would too."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        close_user_sockets_on_commit(instance.pk, "roles changed")
    else:
        for user_id in pk_set or ():
            close_user_sockets_on_commit(user_id, "roles changed")


def on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    auth_event_record(action=Action.LOGIN_FAILED, actor=Actor.for_system("anonymous"), username=username)
