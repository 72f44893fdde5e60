"""Who did something: a person, an integration token, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from opsportal.accounts.models import IntegrationToken


@dataclass(frozen=True)
class Actor:
    """The principal behind a state change. Exactly one of user/token/system is set."""

    user: AbstractBaseUser | None = None
    token: IntegrationToken | None = None
    system: str | None = None

    @classmethod
    def for_system(cls, name: str = "system") -> Actor:
        return cls(system=name)

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        """The actor of a Django or DRF request (token auth wins over session)."""
        from opsportal.accounts.models import IntegrationToken

        auth = getattr(request, "auth", None)
        if isinstance(auth, IntegrationToken):
            return cls(token=auth)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return cls(user=user)
        return cls(system="anonymous")

    @property
    def kind(self) -> str:
        if self.user is not None:
            return "user"
        if self.token is not None:
            return "token"
        return "system"

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        if self.token is not None:
            return f"token:{self.token.service.name}/{self.token.prefix}"
        return self.system or "system"

    @property
    def roles(self) -> set[str]:
        if self.user is None:
            return set()
        if self.user.is_superuser:
            return {"superuser"}
        return set(self.user.groups.values_list("name", flat=True))
