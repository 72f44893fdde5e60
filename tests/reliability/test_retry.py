"""Retry policies: strategy maths, Retry-After, what is retried, the registry, the metric."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from prometheus_client import REGISTRY

from reliability import retry
from reliability.retry import (
    RetryPolicy,
    UnknownPolicy,
    backoff_delay,
    get_policy,
    is_retriable_exception,
    parse_retry_after,
    register_policy,
)


class RecordingRng:
    """Returns one end of the interval it is asked for, and records the interval."""

    def __init__(self, pick: str = "high") -> None:
        self.pick = pick
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b if self.pick == "high" else a


@pytest.fixture
def sleeps(monkeypatch):
    """Replace sleeping (sync and async) with a recorder: waits are asserted, never slept."""
    recorded: list[float] = []

    async def asleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(retry, "_sleep", recorded.append)
    monkeypatch.setattr(retry, "_asleep", asleep)
    return recorded


def retries_metric(policy: str) -> float:
    return REGISTRY.get_sample_value("retry_attempts_total", {"policy": policy}) or 0.0


# --- strategies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("exponential", [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]),
        ("linear", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]),
        ("fixed", [0.5] * 8),
        ("fibonacci", [0.5, 0.5, 1.0, 1.5, 2.5, 4.0, 6.5, 10.5]),
    ],
)
def test_backoff_delay_matches_each_strategy_and_is_capped(strategy, expected):
    got = [backoff_delay(strategy, n, base=0.5, cap=20.0) for n in range(1, 9)]
    assert got == pytest.approx(expected)


def test_schedule_strategy_repeats_its_last_entry():
    got = [backoff_delay("schedule", n, base=0, cap=100, schedule=(1, 5, 30)) for n in range(1, 6)]
    assert got == [1, 5, 30, 30, 30]


def test_full_jitter_draws_between_zero_and_the_nominal_delay():
    rng = RecordingRng("high")
    assert backoff_delay("exponential", 3, base=1.0, cap=60, jitter="full", rng=rng) == 4.0
    assert rng.calls == [(0.0, 4.0)]
    low = RecordingRng("low")
    assert backoff_delay("exponential", 3, base=1.0, cap=60, jitter="full", rng=low) == 0.0


def test_fractional_jitter_spreads_around_the_delay_but_never_past_the_cap():
    rng = RecordingRng("high")
    assert backoff_delay("fixed", 1, base=10.0, cap=60, jitter=0.2, rng=rng) == pytest.approx(12.0)
    assert rng.calls == [(pytest.approx(8.0), pytest.approx(12.0))]
    assert backoff_delay("fixed", 1, base=10.0, cap=11.0, jitter=0.2, rng=RecordingRng("high")) == 11.0
    assert backoff_delay("fixed", 1, base=10.0, cap=60, jitter=0.2, rng=RecordingRng("low")) == pytest.approx(8.0)


def test_real_jitter_stays_within_bounds_and_actually_varies():
    rng = random.Random(7)
    full = [backoff_delay("linear", 4, base=1.0, cap=60, jitter="full", rng=rng) for _ in range(500)]
    assert all(0.0 <= d <= 4.0 for d in full)
    assert max(full) - min(full) > 2.0
    pm = [backoff_delay("fixed", 1, base=5.0, cap=60, jitter=0.2, rng=rng) for _ in range(500)]
    assert all(4.0 <= d <= 6.0 for d in pm)
    assert len(set(pm)) > 400


def test_huge_attempt_numbers_do_not_overflow():
    assert backoff_delay("exponential", 100_000, base=1.0, cap=60.0) == 60.0
    assert backoff_delay("fibonacci", 100_000, base=1.0, cap=60.0) == 60.0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("exponential", 0), {"base": 1, "cap": 1}),
        (("quadratic", 1), {"base": 1, "cap": 1}),
        (("fixed", 1), {"base": -1, "cap": 1}),
        (("fixed", 1), {"base": 1, "cap": 1, "jitter": "half"}),
        (("fixed", 1), {"base": 1, "cap": 1, "jitter": 1.5}),
        (("schedule", 1), {"base": 1, "cap": 1}),
    ],
)
def test_backoff_delay_rejects_nonsense(args, kwargs):
    with pytest.raises(ValueError):
        backoff_delay(*args, **kwargs)


# --- Retry-After -----------------------------------------------------------------------------


def test_parse_retry_after_seconds_and_http_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    future = format_datetime(now + timedelta(seconds=90), usegmt=True)
    past = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after(future, now=now.timestamp()) == pytest.approx(90.0)
    assert parse_retry_after(past, now=now.timestamp()) == 0.0
    for unusable in (None, "", "soon", "-5", "nan", "inf"):
        assert parse_retry_after(unusable) is None, unusable


def test_retry_after_replaces_backoff_and_is_clamped_to_max_delay():
    policy = RetryPolicy(name="t-clamp", strategy="fixed", base=1.0, max_delay=5.0, jitter="none")
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(1, retry_after=3600.0) == 5.0
    assert policy.delay(1) == 1.0
    ignoring = RetryPolicy(name="t-ignore", strategy="fixed", base=1.0, max_delay=5.0, jitter="none",
                           respect_retry_after=False)
    assert ignoring.delay(1, retry_after=2.0) == 1.0


# --- what is retriable -----------------------------------------------------------------------


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://example.invalid/")
    return httpx.HTTPStatusError("x", request=request, response=httpx.Response(status, request=request))


@pytest.mark.parametrize(
    ("exc", "retriable"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.ConnectTimeout("slow"), True),
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (_status_error(500), True),
        (_status_error(503), True),
        (_status_error(429), True),
        (_status_error(400), False),
        (_status_error(404), False),
        (_status_error(409), False),
        (httpx.RemoteProtocolError("reset mid-response"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_connect_errors_timeouts_429_and_5xx_are_retriable(exc, retriable):
    assert is_retriable_exception(exc) is retriable


def test_circuit_open_error_is_never_retriable():
    from reliability.breakers import CircuitOpenError

    assert is_retriable_exception(CircuitOpenError("payments", 3.0)) is False


# --- policies running functions ------------------------------------------------------------


def flaky(failures: list[BaseException], result="ok"):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    fn.calls = calls
    return fn


def test_policy_retries_transient_errors_with_the_strategy_waits(sleeps):
    policy = RetryPolicy(name="t-linear", strategy="linear", max_attempts=4, base=0.25, max_delay=10,
                         jitter="none")
    before = retries_metric("t-linear")
    fn = flaky([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
    assert policy.call(fn) == "ok"
    assert len(fn.calls) == 3
    assert sleeps == [0.25, 0.5]
    assert retries_metric("t-linear") - before == 2


def test_policy_gives_up_after_max_attempts_and_reraises_the_last_error(sleeps):
    policy = RetryPolicy(name="t-exp", strategy="exponential", max_attempts=3, base=1.0, max_delay=10,
                         jitter="none")
    fn = flaky([httpx.ConnectError("1"), httpx.ConnectError("2"), httpx.ConnectError("3"), httpx.ConnectError("4")])
    with pytest.raises(httpx.ConnectError, match="3"):
        policy.call(fn)
    assert len(fn.calls) == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_non_retriable_4xx_is_raised_after_one_call(sleeps, status):
    fn = flaky([_status_error(status)] * 3)
    with pytest.raises(httpx.HTTPStatusError):
        get_policy("default").call(fn)
    assert len(fn.calls) == 1
    assert sleeps == []


def test_programming_errors_are_not_retried(sleeps):
    fn = flaky([KeyError("oops")] * 3)
    with pytest.raises(KeyError):
        get_policy("default").call(fn)
    assert len(fn.calls) == 1


def test_circuit_open_error_is_not_retried_by_a_policy(sleeps):
    from reliability.breakers import CircuitOpenError

    fn = flaky([CircuitOpenError("payments", 3.0)] * 3)
    with pytest.raises(CircuitOpenError):
        get_policy("default").call(fn)
    assert len(fn.calls) == 1
    assert sleeps == []


def test_retriable_responses_are_retried_then_returned_with_retry_after_honoured(sleeps):
    policy = RetryPolicy(name="t-resp", strategy="fibonacci", max_attempts=4, base=1.0, max_delay=7.0,
                         jitter="none")
    responses = iter([
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(503, headers={"Retry-After": "600"}),
        httpx.Response(502),
    ])
    result = policy.call(lambda: next(responses))
    assert result.status_code == 502  # exhausted: the last response comes back, not an exception
    assert sleeps == [1.0, 2.0, 7.0]  # fib(1); Retry-After 2; Retry-After 600 clamped to 7


def test_successful_and_4xx_responses_are_returned_at_once(sleeps):
    for status in (200, 204, 404):
        assert get_policy("default").call(lambda s=status: httpx.Response(s)).status_code == status
    assert sleeps == []


def test_deadline_stops_retrying(sleeps, monkeypatch):
    policy = RetryPolicy(name="t-deadline", strategy="fixed", max_attempts=50, base=1.0, max_delay=5,
                         jitter="none", deadline=0.0)
    fn = flaky([httpx.ConnectError("x")] * 10)
    with pytest.raises(httpx.ConnectError):
        policy.call(fn)
    assert len(fn.calls) == 1


async def test_async_policy_retries_with_async_sleep(sleeps):
    policy = RetryPolicy(name="t-async", strategy="fixed", max_attempts=3, base=0.75, max_delay=5,
                         jitter="none")
    calls = []

    async def fn():
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectTimeout("slow")
        return "done"

    assert await policy.acall(fn) == "done"
    assert sleeps == [0.75, 0.75]


# --- registry ----------------------------------------------------------------------------------


def test_registry_has_the_named_policies():
    assert get_policy("none").max_attempts == 1
    assert get_policy("default").max_attempts > 1
    webhook = get_policy("webhook")
    assert webhook.durable
    assert webhook.max_attempts == 8
    with pytest.raises(UnknownPolicy):
        get_policy("does-not-exist")
    assert get_policy(webhook) is webhook


def test_webhook_schedule_is_the_design_schedule_with_20_percent_jitter():
    nominal = [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert get_policy("webhook").delays(rng=RecordingRng("high")) == pytest.approx([d * 1.2 for d in nominal])
    assert get_policy("webhook").delays(rng=RecordingRng("low")) == pytest.approx([d * 0.8 for d in nominal])


def test_registering_a_different_policy_under_a_taken_name_needs_replace():
    with pytest.raises(ValueError):
        register_policy(RetryPolicy(name="default", max_attempts=9))
    assert get_policy("default").max_attempts != 9


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"strategy": "cubic"}, {"strategy": "schedule"}, {"jitter": "some"}, {"base": -1}],
)
def test_policy_validates_itself(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(name="t-bad", **kwargs)
