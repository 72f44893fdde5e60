"""``Breaker``: the handle callers use (call, decorate, context manager, async)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from reliability.breakers.config import CLOSED, DISABLED, HALF_OPEN, OPEN, BreakerConfig
from reliability.breakers.runtime.base import NORMAL, CircuitOpenError
from reliability.breakers.runtime.core import BreakerCore


class Breaker:
    """A handle on a named breaker: call it, decorate with it, or use it as a context manager."""

    __slots__ = ("_core", "_fallback", "_exclude", "__weakref__")

    def __init__(self, core: BreakerCore, fallback: Callable | None = None, exclude: tuple = ()) -> None:
        self._core = core
        self._fallback = fallback
        self._exclude = tuple(exclude)

    def __repr__(self) -> str:
        return f"<Breaker {self._core.name!r} {self.state}>"

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def state(self) -> str:
        core = self._core
        if core.state == OPEN and core.clock() >= core.open_until:
            return HALF_OPEN  # the next call will probe
        return core.state

    @property
    def config(self) -> BreakerConfig:
        return self._core.config

    # --- sync ----------------------------------------------------------------------------
    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        st = core.state
        if st == CLOSED or st == DISABLED:
            token = NORMAL
        else:
            try:
                token = core.acquire_slow()
            except CircuitOpenError:
                if self._fallback is not None:
                    return self._fallback(*args, **kwargs)
                raise
        clock = core.clock
        start = clock()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            core.on_error(token, start, clock(), exc, self._exclude)
            raise
        core.on_success(token, start, clock())
        return result

    def __enter__(self) -> Breaker:
        core = self._core
        token = core.acquire()
        core.cm_stack.set(core.cm_stack.get() + ((token, core.clock(), None),))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        core = self._core
        stack = core.cm_stack.get()
        token, start, _ = stack[-1]
        core.cm_stack.set(stack[:-1])
        if exc is None:
            core.on_success(token, start, core.clock())
        else:
            core.on_error(token, start, core.clock(), exc, self._exclude)
        return False

    # --- async ---------------------------------------------------------------------------
    async def acall(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        try:
            token = core.acquire()
        except CircuitOpenError:
            if self._fallback is not None:
                result = self._fallback(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            raise
        timeout = core.config.call_timeout
        clock = core.clock
        start = clock()
        try:
            if timeout is None:
                result = await fn(*args, **kwargs)
            else:
                async with asyncio.timeout(timeout):
                    result = await fn(*args, **kwargs)
        except BaseException as exc:
            core.on_error(token, start, clock(), exc, self._exclude)
            raise
        core.on_success(token, start, clock())
        return result

    async def __aenter__(self) -> Breaker:
        core = self._core
        token = core.acquire()
        timer = None
        if core.config.call_timeout is not None:
            timer = asyncio.timeout(core.config.call_timeout)
            await timer.__aenter__()
        core.cm_stack.set(core.cm_stack.get() + ((token, core.clock(), timer),))
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        core = self._core
        stack = core.cm_stack.get()
        token, start, timer = stack[-1]
        core.cm_stack.set(stack[:-1])
        if timer is not None:
            try:
                await timer.__aexit__(exc_type, exc, tb)
            except TimeoutError as timed_out:
                core.on_error(token, start, core.clock(), timed_out, self._exclude, timeout=True)
                raise
        if exc is None:
            core.on_success(token, start, core.clock())
        else:
            core.on_error(token, start, core.clock(), exc, self._exclude)
        return False

    # --- decorator -----------------------------------------------------------------------
    def __call__(self, fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                return await self.acall(fn, *args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return self.call(fn, *args, **kwargs)

        return wrapper

