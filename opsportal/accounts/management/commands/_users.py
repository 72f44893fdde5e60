"""What the user commands share: finding the user, the system actor, turning errors into CommandError."""

from __future__ import annotations

from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from audit.actors import Actor
from opsportal.accounts.services import UserChangeRefused


def actor_for(command: str) -> Actor:
    """The shell runs with the server's own rights: a system actor named after the command."""
    return Actor.for_system(f"cli:{command}")


def user_by_name(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user


def parse_roles(text: str | None) -> list[str]:
    return [r.strip() for r in (text or "").split(",") if r.strip()]


@contextmanager
def service_errors():
    try:
        yield
    except ValidationError as exc:
        raise CommandError("; ".join(exc.messages)) from exc
    except UserChangeRefused as exc:
        raise CommandError(str(exc)) from exc
