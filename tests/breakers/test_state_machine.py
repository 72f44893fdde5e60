"""The breaker state machine in one process, on a clock the tests move (no sleeping)."""

from __future__ import annotations

import pickle

import pytest

from reliability.breakers import BreakerConfig, CircuitOpenError

CFG = BreakerConfig(failure_rate_threshold=50, minimum_calls=4, window_size=10, open_duration=30,
                    half_open_permitted_calls=2, success_threshold=2)


class Boom(Exception):
    pass


def ok():
    return "ok"


def fail():
    raise Boom("downstream said no")


def drive(b, outcomes: str) -> None:
    """'s' = success, 'f' = failure."""
    for o in outcomes:
        if o == "s":
            b.call(ok)
        else:
            with pytest.raises(Boom):
                b.call(fail)


def test_count_window_trips_at_threshold_once_minimum_calls_are_in(registry, hooks):
    b = registry.get("pay", config=CFG)
    drive(b, "ff")  # 100 % failures but only 2 calls: minimum_calls is 4
    assert b.state == "closed"
    drive(b, "s")
    assert b.state == "closed"  # 2/3
    drive(b, "f")  # 3/4 = 75 %
    assert b.state == "open"
    with pytest.raises(CircuitOpenError) as err:
        b.call(ok)
    assert err.value.name == "pay"
    assert err.value.retry_after == pytest.approx(30)
    registry.drain()
    (event,) = hooks.transitions
    assert (event.from_state, event.to_state, event.cause) == ("closed", "open", "failure_rate")
    assert event.failure_rate == pytest.approx(75.0)
    assert event.calls_in_window == 4
    assert "downstream said no" in event.last_error


def test_count_window_slides_old_failures_out(registry):
    b = registry.get("slide", config=BreakerConfig(failure_rate_threshold=50, minimum_calls=4, window_size=4,
                                                      half_open_permitted_calls=1, success_threshold=1))
    drive(b, "fss")  # 1/3
    drive(b, "s")  # window f s s s: 25 %
    drive(b, "s")  # the failure slides out: s s s s
    drive(b, "f")  # s s s f: 25 %
    assert b.state == "closed"
    drive(b, "f")  # s s f f: 50 %
    assert b.state == "open"


def test_time_window_forgets_outcomes_older_than_its_size(registry, clock):
    cfg = BreakerConfig(failure_rate_threshold=50, minimum_calls=4, window_type="time", window_size=10)
    b = registry.get("timed", config=cfg)
    drive(b, "fff")
    clock.advance(11)  # those three failures are out of the 10 s window now
    drive(b, "sf")
    assert b.state == "closed"
    drive(b, "s")  # s f s within the window: 3 calls, below the minimum
    assert b.state == "closed"
    clock.advance(3)
    drive(b, "f")  # s f s f = 50 %
    assert b.state == "open"


def test_time_window_counts_calls_spread_within_the_window(registry, clock):
    cfg = BreakerConfig(failure_rate_threshold=60, minimum_calls=5, window_type="time", window_size=5)
    b = registry.get("spread", config=cfg)
    for _ in range(4):
        drive(b, "f")
        clock.advance(1)
    assert b.state == "closed"  # 4 calls < minimum 5
    drive(b, "s")  # 4 of 5 failed within 5 s: 80 %
    assert b.state == "open"


def test_slow_calls_trip_on_slow_call_rate(registry, clock, hooks):
    cfg = BreakerConfig(minimum_calls=4, window_size=10, slow_call_duration=2.0, slow_call_rate_threshold=50)
    b = registry.get("slow", config=cfg)

    def slow():
        clock.advance(2.5)
        return "late"

    b.call(ok)
    b.call(ok)
    assert b.call(slow) == "late"  # a slow success still returns its result
    assert b.state == "closed"
    b.call(slow)  # 2 slow of 4 = 50 %
    assert b.state == "open"
    registry.drain()
    assert hooks.transitions[-1].cause == "slow_call_rate"


def test_open_duration_then_half_open_then_success_threshold_closes(registry, clock, hooks):
    b = registry.get("recover", config=CFG)
    drive(b, "ffff")
    assert b.state == "open"
    clock.advance(29.9)
    with pytest.raises(CircuitOpenError) as err:
        b.call(ok)
    assert err.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    assert b.state == "half_open"
    b.call(ok)  # probe 1 of success_threshold 2
    assert b.state == "half_open"
    b.call(ok)
    assert b.state == "closed"
    registry.drain()
    assert [(e.to_state, e.cause) for e in hooks.transitions] == [
        ("open", "failure_rate"), ("half_open", "open_duration_elapsed"), ("closed", "probe_success"),
    ]


def test_half_open_admits_only_the_permitted_probes(registry, clock):
    b = registry.get("probes", config=CFG)
    drive(b, "ffff")
    clock.advance(30)
    entered = []
    # Two probes in flight (context managers not yet exited) use up both permits.
    first, second = b.__enter__(), b.__enter__()
    entered += [first, second]
    with pytest.raises(CircuitOpenError):
        b.call(ok)  # a third caller fails fast
    b.__exit__(None, None, None)
    b.__exit__(None, None, None)
    assert b.state == "closed"


def test_a_failed_probe_reopens_for_another_open_duration(registry, clock, hooks):
    b = registry.get("reprobe", config=CFG)
    drive(b, "ffff")
    clock.advance(30)
    drive(b, "f")
    assert b.state == "open"
    with pytest.raises(CircuitOpenError) as err:
        b.call(ok)
    assert err.value.retry_after == pytest.approx(30)
    registry.drain()
    assert hooks.transitions[-1].cause == "probe_failure"
    assert hooks.transitions[-1].from_state == "half_open"


def test_a_fresh_window_after_closing(registry, clock):
    b = registry.get("fresh", config=CFG)
    drive(b, "ffff")
    clock.advance(30)
    drive(b, "ss")
    assert b.state == "closed"
    drive(b, "fff")  # the old failures are gone: 3 calls, below the minimum
    assert b.state == "closed"


def test_forced_open_refuses_every_call_and_never_recovers_by_itself(registry, clock):
    b = registry.get("forced", config=CFG)
    registry.apply_manual("forced", "forced_open")
    assert b.state == "forced_open"
    clock.advance(3600)
    with pytest.raises(CircuitOpenError):
        b.call(ok)
    assert b.state == "forced_open"
    registry.apply_manual("forced", "closed")
    assert b.call(ok) == "ok"


def test_disabled_always_calls_and_never_trips(registry):
    b = registry.get("off", config=CFG)
    registry.apply_manual("off", "disabled")
    for _ in range(20):
        with pytest.raises(Boom):
            b.call(fail)
    assert b.state == "disabled"
    assert b._core.counts[1] == 20  # still counted for metrics


def test_excluded_exceptions_do_not_count(registry):
    b = registry.get("excl", config=CFG, exclude=(KeyError,))

    def missing():
        raise KeyError("no such customer")

    for _ in range(10):
        with pytest.raises(KeyError):
            b.call(missing)
    assert b.state == "closed"
    drive(b, "ffff")  # other exceptions still do
    assert b.state == "open"


def test_fallback_is_called_instead_of_raising(registry):
    calls = []
    b = registry.get("fb", config=CFG, fallback=lambda *a, **kw: calls.append((a, kw)) or "cached")
    drive(b, "ffff")
    assert b.call(ok, 1, key="v") == "cached"
    assert calls == [((1,), {"key": "v"})]


def test_same_name_same_object_and_options_share_state(registry):
    assert registry.get("one") is registry.get("one")
    plain = registry.get("one", config=CFG)
    with_fallback = registry.get("one", fallback=lambda: "fb")
    drive(plain, "ffff")
    assert with_fallback.state == "open"
    assert with_fallback.call(ok) == "fb"


def test_unknown_names_get_defaults(registry):
    b = registry.get("never-declared")
    assert b.config == BreakerConfig()


def test_context_manager_counts_an_exception_raised_inside(registry):
    b = registry.get("cm", config=CFG)
    for _ in range(4):
        with pytest.raises(Boom), b:
            raise Boom("inside")
    assert b.state == "open"
    with pytest.raises(CircuitOpenError), b:
        pytest.fail("the body must not run while open")


def test_decorator_protects_a_function(registry):
    b = registry.get("deco", config=CFG)

    @b
    def charge(amount):
        if amount < 0:
            raise Boom("negative")
        return amount * 2

    assert charge(2) == 4
    assert charge.__name__ == "charge"
    for _ in range(3):  # 1 success + 3 failures = 75 % of 4 calls
        with pytest.raises(Boom):
            charge(-1)
    with pytest.raises(CircuitOpenError):
        charge(2)


def test_base_exceptions_are_not_failures(registry):
    b = registry.get("base", config=CFG)
    for _ in range(5):
        with pytest.raises(KeyboardInterrupt):
            b.call(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert b.state == "closed"


def test_an_ignored_probe_gives_its_permit_back(registry, clock):
    b = registry.get("ign", config=CFG, exclude=(KeyError,))
    drive(b, "ffff")
    clock.advance(30)

    def missing():
        raise KeyError("x")

    for _ in range(5):  # more than the 2 permits: each excluded probe returns its permit
        with pytest.raises(KeyError):
            b.call(missing)
    assert b.state == "half_open"


def test_circuit_open_error_pickles():
    err = pickle.loads(pickle.dumps(CircuitOpenError("x", 1.5)))
    assert (err.name, err.retry_after) == ("x", 1.5)


def test_config_is_validated():
    with pytest.raises(ValueError, match="success_threshold"):
        BreakerConfig(half_open_permitted_calls=1, success_threshold=2)
    with pytest.raises(ValueError, match="window_type"):
        BreakerConfig(window_type="sometimes")


def test_public_breaker_function_is_process_wide(process_registry):
    from reliability.breakers import breaker

    assert breaker("stripe-api") is breaker("stripe-api")
    assert breaker("stripe-api").state == "closed"
    assert process_registry.core("stripe-api") is not None
