"""Circuit breakers shared across processes (DESIGN §7.3).

    from reliability.breakers import breaker, CircuitOpenError, BreakerConfig

    breaker("stripe-api").call(fn, *args, **kwargs)
    await breaker("stripe-api").acall(async_fn, *args)
    with breaker("stripe-api"): ...
    @breaker("stripe-api")
    def charge(...): ...

See docs/breakers.md.
"""

from reliability.breakers.config import BreakerConfig
from reliability.breakers.runtime import Breaker, CircuitOpenError, breaker, declare, default_registry

__all__ = ["Breaker", "BreakerConfig", "CircuitOpenError", "breaker", "declare", "default_registry"]
