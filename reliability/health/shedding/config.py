"""The shedding settings, read once: a Django settings lookup costs ~1-2 us, more than the rest
of the ingest path's check. Re-read when a test (override_settings) changes one of them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

NAMES = ("SHEDDING_ENABLED", "SHED_RETRY_AFTER_SECONDS", "SHED_INTAKE_MAX_CONCURRENCY", "RATE_LIMIT_ENABLED",
         "RATE_LIMIT_WINDOW_SECONDS", "RATE_LIMIT_TOKEN_PER_MINUTE", "RATE_LIMIT_USER_PER_MINUTE",
         "DEGRADATION_CACHE_SECONDS", "REDIS_URL")


@dataclass(frozen=True)
class Config:
    shedding_enabled: bool
    retry_after: int
    intake_cap: int
    rate_limit_enabled: bool
    window: int
    token_limit: int
    user_limit: int


_config: list[Config] = []


def config() -> Config:
    if not _config:
        _config.append(Config(
            shedding_enabled=bool(settings.SHEDDING_ENABLED),
            retry_after=int(settings.SHED_RETRY_AFTER_SECONDS),
            intake_cap=int(settings.SHED_INTAKE_MAX_CONCURRENCY),
            rate_limit_enabled=bool(settings.RATE_LIMIT_ENABLED),
            window=int(settings.RATE_LIMIT_WINDOW_SECONDS),
            token_limit=int(settings.RATE_LIMIT_TOKEN_PER_MINUTE),
            user_limit=int(settings.RATE_LIMIT_USER_PER_MINUTE),
        ))
    return _config[0]


def setting_changed(setting=None, **kwargs) -> None:
    if setting in NAMES:
        _config.clear()
        from reliability.health.degradation import state

        state.forget_ttl()
