"""A Ref's isolation policy around a proxy: circuit breaker, bulkhead and fallback.

Applied the same way to direct and remote proxies, so a failing callee is
contained identically in a monolith and across processes.  A Ref with no
policy gets the bare proxy: nothing here costs anything unless configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from genweave.component import MethodSpec
from genweave.errors import CallError, CircuitOpen, Overloaded
from genweave.resilience import Bulkhead, CircuitBreaker, RefPolicy, is_outage
from genweave.runtime.refs import ComponentProxy

__all__ = ["guarded_proxy"]

Fallback = Callable[..., Any]


def guarded_proxy(proxy: ComponentProxy, policy: RefPolicy,
                  fallback: ComponentProxy | None = None) -> ComponentProxy:
    """``proxy`` with ``policy``'s circuit breaker, bulkhead and fallbacks.

    ``fallback`` is the proxy of the fallback component, when the policy names one.
    """
    spec = proxy._genweave_spec
    guarded = ComponentProxy(spec, f"{proxy._genweave_kind}, guarded")
    circuit = CircuitBreaker(policy.circuit) if policy.circuit is not None else None
    bulkhead = Bulkhead(policy.bulkhead) if policy.bulkhead is not None else None
    guarded._genweave_circuit = circuit  # type: ignore[attr-defined]
    guarded._genweave_bulkhead = bulkhead  # type: ignore[attr-defined]
    for m in spec.methods.values():
        inner = getattr(proxy, m.name)
        spare = _fallback_for(m, policy, fallback)
        make = _guarded_stream if m.stream else _guarded_unary
        wrapped = make(m, inner, circuit, bulkhead, spare)
        wrapped.__name__, wrapped.__qualname__ = m.name, m.qualname
        setattr(guarded, m.name, wrapped)
    return guarded


def _fallback_for(spec: MethodSpec, policy: RefPolicy,
                  fallback: ComponentProxy | None) -> Fallback | None:
    settings = policy.fallback
    if settings is None:
        return None
    if spec.name in settings.values:
        value = settings.values[spec.name]
        if spec.stream:
            async def items(*_: Any, **__: Any) -> AsyncIterator[Any]:
                for item in value:
                    yield item
            return items

        async def constant(*_: Any, **__: Any) -> Any:
            return value
        return constant
    if fallback is not None:
        method: Fallback = getattr(fallback, spec.name)
        return method
    return None


def _refused(spec: MethodSpec, circuit: CircuitBreaker | None,
             bulkhead: Bulkhead | None) -> CallError | None:
    """Why a call may not go out now, or ``None`` when it may (then it holds a slot)."""
    if circuit is not None and not circuit.allow():
        return CircuitOpen(f"circuit open after repeated failures; next trial in "
                           f"{circuit.retry_after():.1f}s", component=spec.component,
                           method=spec.name)
    if bulkhead is not None and not bulkhead.try_enter():
        if circuit is not None:
            circuit.released()
        return Overloaded(f"bulkhead full ({bulkhead.limit} calls in flight through this Ref)",
                          component=spec.component, method=spec.name)
    return None


def _settle(circuit: CircuitBreaker | None, error: BaseException | None) -> None:
    if circuit is None:
        return
    if error is None or (isinstance(error, Exception) and not is_outage(error)):
        circuit.succeeded()  # the callee answered, even if with an application error
    elif isinstance(error, asyncio.CancelledError | GeneratorExit):
        circuit.released()  # the caller gave up: no verdict on the callee
    else:
        circuit.failed()


def _guarded_unary(spec: MethodSpec, inner: Callable[..., Any], circuit: CircuitBreaker | None,
                   bulkhead: Bulkhead | None, fallback: Fallback | None) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        refused = _refused(spec, circuit, bulkhead)
        if refused is not None:
            if fallback is None:
                raise refused
            return await fallback(*args, **kwargs)
        error: BaseException | None = None
        try:
            return await inner(*args, **kwargs)
        except BaseException as exc:
            error = exc
            if fallback is None or not is_outage(exc):
                raise
        finally:
            if bulkhead is not None:
                bulkhead.leave()
            _settle(circuit, error)
        return await fallback(*args, **kwargs)

    return call


def _guarded_stream(spec: MethodSpec, inner: Callable[..., Any], circuit: CircuitBreaker | None,
                    bulkhead: Bulkhead | None, fallback: Fallback | None) -> Callable[..., Any]:
    async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        refused = _refused(spec, circuit, bulkhead)
        if refused is not None:
            if fallback is None:
                raise refused
            async for item in fallback(*args, **kwargs):
                yield item
            return
        error: BaseException | None = None
        started = False
        try:
            async with aclosing(inner(*args, **kwargs)) as items:
                async for item in items:
                    started = True
                    yield item
        except BaseException as exc:
            error = exc
            # Once items have reached the caller, a fallback would splice two answers.
            if fallback is None or started or not is_outage(exc):
                raise
        finally:
            if bulkhead is not None:
                bulkhead.leave()
            _settle(circuit, error)
        if error is not None and fallback is not None:
            async for item in fallback(*args, **kwargs):
                yield item

    return stream
