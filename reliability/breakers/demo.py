"""seed_demo step: breakers in every state, with transitions the real state machine decided.

Each demo breaker is added through ``breaker_create`` and then driven through a
private, in-process ``BreakerRegistry`` (on a hand-moved clock, so no sleeping)
whose hooks are the app's own ``DjangoHooks``: the trips, the move to half-open
and the close after probes are decided by the runtime and recorded by
``breaker_transition_record``, exactly as in production. Operator states
(forced open, disabled) go through the manual services with a reason. A breaker
that already exists is left alone, so the step is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opsportal.catalog.models import Service
from opsportal.demo import SeedContext, seed_step
from reliability.breakers.config import BreakerConfig
from reliability.breakers.hooks import DjangoHooks
from reliability.breakers.models import CircuitBreaker
from reliability.breakers.runtime import Breaker, BreakerRegistry, CircuitOpenError
from reliability.breakers.services import breaker_create, breaker_disable, breaker_force_open

DEMO_CONFIG = BreakerConfig(failure_rate_threshold=50, minimum_calls=10, window_size=20, slow_call_duration=2.0,
                            slow_call_rate_threshold=80, open_duration=30, half_open_permitted_calls=2,
                            success_threshold=2)


class DemoClock:
    """A monotonic clock the demo moves by hand (the runtime measures call durations with it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class DemoBreaker:
    name: str
    service: str  # a catalog demo service (opsportal/catalog/demo.py)
    story: Callable[[Breaker, DemoClock], None]  # the calls the runtime sees
    state: str  # what the story (and the operator) leave it in (the test checks it)
    operator: tuple[Callable[..., object], str] | None = None  # a manual service and its reason, after the calls


def _fail_until_open(b: Breaker, clock: DemoClock, error: Exception | None = None) -> None:
    """Calls that fail with ``error`` (or, without one, answer too slowly) until the breaker opens."""

    def failing():
        if error is None:
            clock.advance(DEMO_CONFIG.slow_call_duration + 0.5)
            return "late"
        raise error

    for _ in range(DEMO_CONFIG.window_size * 2):  # enough calls to trip; the state machine decides when
        try:
            b.call(failing)
        except CircuitOpenError:
            return
        except Exception:  # noqa: S110 - the failure the breaker counts
            pass
    raise RuntimeError(f"demo breaker {b.name} did not trip")


def _probe(b: Breaker, clock: DemoClock, successes: int) -> None:
    clock.advance(DEMO_CONFIG.open_duration + 1)  # the open duration is over: the next call probes
    for _ in range(successes):
        b.call(lambda: "ok")


def _recovered(b, clock):
    _fail_until_open(b, clock, ConnectionError("connect to api.stripe.example:443 refused"))
    _probe(b, clock, DEMO_CONFIG.success_threshold)  # closed again (probe_success)
    for _ in range(5):
        b.call(lambda: "ok")


def _tripped_on_errors(b, clock):
    _fail_until_open(b, clock, TimeoutError("read timeout after 2.0 s from fraud-scoring.internal"))


def _tripped_on_latency(b, clock):
    _fail_until_open(b, clock)  # every call answers after the slow-call duration


def _probing(b, clock):
    _fail_until_open(b, clock, ConnectionError("sms gateway answered 503 Service Unavailable"))
    _probe(b, clock, DEMO_CONFIG.success_threshold - 1)  # one good probe so far: still half-open


def _reset_by_peer(b, clock):
    _fail_until_open(b, clock, ConnectionError("inventory.legacy.example: connection reset by peer"))


def _healthy(b, clock):
    for _ in range(8):
        b.call(lambda: "ok")


DEMO_BREAKERS = (
    DemoBreaker("stripe-api", "payments-api", _recovered, "closed"),
    DemoBreaker("fraud-scoring", "payments-api", _tripped_on_errors, "open"),
    DemoBreaker("search-index", "search", _tripped_on_latency, "open"),
    DemoBreaker("sms-gateway", "notifications", _probing, "half_open"),
    DemoBreaker("legacy-inventory", "checkout-web", _reset_by_peer, "forced_open",
                operator=(breaker_force_open, "vendor maintenance until 06:00 UTC: keep it shut, no automatic probes")),
    DemoBreaker("email-relay", "notifications", _healthy, "disabled",
                operator=(breaker_disable, "provider answers 429 under normal load: count only, until the retry budget is fixed")),
)


@seed_step("breakers: demo breakers in every state", order=350)
def seed_breakers(ctx: SeedContext) -> None:
    existing = set(CircuitBreaker.objects.filter(name__in=[d.name for d in DEMO_BREAKERS]).values_list("name", flat=True))
    todo = [d for d in DEMO_BREAKERS if d.name not in existing]
    if not todo:
        return
    services = {s.name: s for s in Service.objects.filter(name__in={d.service for d in todo})}
    clock = DemoClock()
    # A private registry: the process-wide one (and Redis) never sees the demo's synthetic calls.
    registry = BreakerRegistry(clock=clock, hooks=DjangoHooks(), background=False)
    try:
        for demo in todo:
            breaker_create(name=demo.name, config=DEMO_CONFIG, service=services.get(demo.service),
                           actor=ctx.actor, source=ctx.source)
            demo.story(registry.get(demo.name, config=DEMO_CONFIG), clock)
            registry.drain()  # record what the state machine decided, through the services
            if demo.operator is not None:
                manual_service, reason = demo.operator
                manual_service(name=demo.name, actor=ctx.actor, reason=reason, source=ctx.source)
            ctx.created(f"breaker {demo.name} ({demo.state.replace('_', ' ')})")
    finally:
        registry.close()
    ctx.note("Breakers: live on /ops/ and in /admin/breakers/circuitbreaker/ (each with its transitions).")
