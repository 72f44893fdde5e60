"""Auth signal receivers: interfaces that call the accounts service."""

from audit.actors import Actor
from opsportal.accounts.names import Action
from opsportal.accounts.services import auth_event_record


def on_login(sender, request, user, **kwargs):
    auth_event_record(action=Action.LOGIN, actor=Actor(user=user), username=user.get_username())


def on_logout(sender, request, user, **kwargs):
    if user is not None:
        auth_event_record(action=Action.LOGOUT, actor=Actor(user=user), username=user.get_username())


def on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    auth_event_record(action=Action.LOGIN_FAILED, actor=Actor.for_system("anonymous"), username=username)
