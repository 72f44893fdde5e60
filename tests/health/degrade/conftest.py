"""Degradation tests: every test starts and ends with no process-local level and no limiter state."""

from __future__ import annotations

import pytest

from reliability.health.degradation import state
from reliability.health.shedding.limits import limiter


@pytest.fixture(autouse=True)
def _fresh_degradation():
    state.forget_local()
    limiter.reset_local()
    yield
    state.forget_local()
    limiter.reset_local()


# Signed webhooks need a source: the webhook tests' own fixtures.
from tests.webhooks.conftest import _fresh_webhook_caches, make_destination, make_source  # noqa: E402,F401
