"""The objects injected for ``Ref[...]`` attributes: one callable per interface method.

A direct proxy calls the target instance in this process; a remote proxy goes
through the router.  Both raise the same errors for the same failures, so the
application behaves identically whichever one the topology gives it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from genweave import context
from genweave.component import ComponentSpec, MethodSpec
from genweave.errors import (
    CallError,
    DeadlineExceeded,
    InvalidArgument,
    component_error,
    qualified_name,
)
from genweave.observe.metrics import REGISTRY
from genweave.observe.tracecontext import outgoing_traceparent
from genweave.resilience import RetryPolicy
from genweave.runtime.outgoing import OutgoingCall

if TYPE_CHECKING:
    from genweave.runtime.router import Router

__all__ = ["ComponentProxy", "direct_proxy", "remote_proxy"]

_F = TypeVar("_F", bound=Callable[..., Any])


class ComponentProxy:
    """Stands in for a component; its attributes are the component's methods."""

    def __init__(self, spec: ComponentSpec, kind: str) -> None:
        self._genweave_spec = spec
        self._genweave_kind = kind

    def __repr__(self) -> str:
        return f"<{self._genweave_kind} Ref to {self._genweave_spec.name}>"


def direct_proxy(spec: ComponentSpec, instance: object,
                 timeout: float | None = None) -> ComponentProxy:
    """A proxy that calls ``instance`` in this process, with no serialisation.

    ``timeout`` (a per-Ref limit) bounds each call together with the method's own.
    """
    proxy = ComponentProxy(spec, "direct")
    for m in spec.methods.values():
        bound = getattr(instance, m.name)
        limit = _tighter(m.options.timeout, timeout)
        setattr(proxy, m.name, _direct_stream(m, bound, limit) if m.stream
                else _direct_unary(m, bound, limit))
    return proxy


def remote_proxy(spec: ComponentSpec, router: Router, group: str, caller: str,
                 timeout: float | None = None, retry: RetryPolicy | None = None) -> ComponentProxy:
    """A proxy that calls the component's group through ``router``.

    ``timeout`` and ``retry`` are a Ref's own policy (see ``genweave.resilience``).
    """
    proxy = ComponentProxy(spec, f"remote ({group})")
    for m in spec.methods.values():
        make = _remote_stream if m.stream else _remote_unary
        setattr(proxy, m.name, make(m, router, group, _tighter(m.options.timeout, timeout),
                                    retry))
    return proxy


def _tighter(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _named(fn: _F, spec: MethodSpec) -> _F:
    fn.__name__ = spec.name
    fn.__qualname__ = spec.qualname
    return fn


def _bad_arguments(spec: MethodSpec, exc: TypeError) -> InvalidArgument:
    return InvalidArgument(str(exc), component=spec.component, method=spec.name)


def _raised(spec: MethodSpec, exc: Exception) -> CallError:
    return component_error(qualified_name(type(exc)), str(exc), component=spec.component,
                           method=spec.name)


def _direct_unary(spec: MethodSpec, bound: Callable[..., Any],
                  method_timeout: float | None) -> Callable[..., Any]:
    stats = REGISTRY.method(spec.component, spec.name)
    clock = time.perf_counter

    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            coro = bound(*args, **kwargs)
        except TypeError as exc:
            raise _bad_arguments(spec, exc) from None
        ok = False
        stats.in_flight += 1
        start = clock()
        try:
            if method_timeout is None:
                result = await coro
            else:
                result = await _with_timeout(coro, method_timeout, spec)
            ok = True
            return result
        except CallError:
            raise
        except Exception as exc:
            raise _raised(spec, exc) from exc
        finally:
            stats.in_flight -= 1
            stats.record(clock() - start, ok)

    return _named(call, spec)


async def _with_timeout(coro: Any, seconds: float, spec: MethodSpec) -> Any:
    loop = asyncio.get_running_loop()
    at = loop.time() + seconds
    outer = context.current_deadline.get()
    token = context.current_deadline.set(at if outer is None else min(at, outer))
    scope = asyncio.timeout_at(at)
    try:
        async with scope:
            return await coro
    except TimeoutError:
        if scope.expired():
            raise DeadlineExceeded(f"no result within {seconds:.3g}s", component=spec.component,
                                   method=spec.name) from None
        raise
    finally:
        context.current_deadline.reset(token)


def _direct_stream(spec: MethodSpec, bound: Callable[..., Any],
                   timeout: float | None) -> Callable[..., Any]:
    stats = REGISTRY.method(spec.component, spec.name)

    async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            iterator = bound(*args, **kwargs)
        except TypeError as exc:
            raise _bad_arguments(spec, exc) from None
        ok = False
        stats.in_flight += 1
        start = time.perf_counter()
        try:
            if timeout is None:
                async for item in iterator:
                    yield item
            else:
                # Like a remote stream: the limit covers the whole stream, from its start.
                at = asyncio.get_running_loop().time() + timeout
                while True:
                    try:
                        item = await _next_before(iterator, at, timeout, spec)
                    except StopAsyncIteration:
                        break
                    yield item
            ok = True
        except CallError:
            raise
        except Exception as exc:
            raise _raised(spec, exc) from exc
        finally:
            stats.in_flight -= 1
            stats.record(time.perf_counter() - start, ok)
            await iterator.aclose()

    return _named(stream, spec)


async def _next_before(iterator: AsyncIterator[Any], at: float, seconds: float,
                       spec: MethodSpec) -> Any:
    """The iterator's next item, or ``DeadlineExceeded`` once the loop's clock passes ``at``."""
    scope = asyncio.timeout_at(at)
    try:
        async with scope:
            return await anext(iterator)
    except TimeoutError:
        if scope.expired():
            raise DeadlineExceeded(f"stream not finished within {seconds:.3g}s",
                                   component=spec.component, method=spec.name) from None
        raise


def _remote_unary(spec: MethodSpec, router: Router, group: str, method_timeout: float | None,
                  retry: RetryPolicy | None) -> Callable[..., Any]:
    args_type = spec.args_type

    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            packed = args_type(*args, **kwargs)
        except TypeError as exc:
            raise _bad_arguments(spec, exc) from None
        return await router.call(OutgoingCall(
            group, spec, packed, context.outgoing_metadata(),
            context.outgoing_deadline(method_timeout), outgoing_traceparent(), retry))

    return _named(call, spec)


def _remote_stream(spec: MethodSpec, router: Router, group: str, method_timeout: float | None,
                   retry: RetryPolicy | None) -> Callable[..., Any]:
    args_type = spec.args_type

    async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            packed = args_type(*args, **kwargs)
        except TypeError as exc:
            raise _bad_arguments(spec, exc) from None
        items = router.stream(OutgoingCall(
            group, spec, packed, context.outgoing_metadata(),
            context.outgoing_deadline(method_timeout), outgoing_traceparent(), retry))
        async with aclosing(items):
            async for item in items:
                yield item

    return _named(stream, spec)
