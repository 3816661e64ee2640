"""The one exception hierarchy of genweave.

::

    GenweaveError
    ├── DefinitionError          a component or method definition is invalid
    ├── TopologyError            a topology file or preset is invalid
    ├── ProtocolError            a peer sent bytes that are not a genweave message
    └── CallError                a call through a Ref failed (names component and method)
        ├── InvalidArgument      arguments do not match the method's types        (400)
        ├── MessageTooLarge      a message is above the size limit                (413)
        ├── NotFound             the callee has no such component or method      (404)
        ├── InterfaceMismatch    caller and callee versions are incompatible      (409)
        ├── Unavailable          no ready replica, or the connection failed       (503)
        │   ├── ConnectionLost   the callee died while the call was in flight     (503)
        │   ├── Overloaded       the callee or the Ref is at its concurrency limit (503)
        │   └── CircuitOpen      recent calls failed; this one was not attempted  (503)
        ├── DeadlineExceeded     the call's deadline passed (also a TimeoutError) (504)
        └── ComponentError       the method itself raised                         (500)

A ``CallError`` raised on the caller's side is the same type whether the callee
ran in the same process or in another one, so application code handles errors
identically under every topology.  ``ComponentError`` is additionally made an
instance of the callee's exception class when that class is importable on the
caller's side (``except ValueError`` keeps working across a split).
"""

from __future__ import annotations

import sys
from http import HTTPStatus
from typing import ClassVar

__all__ = [
    "CALL_ERRORS",
    "CallError",
    "CircuitOpen",
    "ComponentError",
    "ConnectionLost",
    "DeadlineExceeded",
    "DefinitionError",
    "GenweaveError",
    "InterfaceMismatch",
    "InvalidArgument",
    "MessageTooLarge",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "ProtocolError",
    "TopologyError",
    "Unavailable",
    "component_error",
    "error_kind",
    "find_exception_class",
    "qualified_name",
]


class GenweaveError(Exception):
    """Base class of every error genweave raises."""


class DefinitionError(GenweaveError, TypeError):
    """A component, method or Ref is defined in a way that could not be split."""


class TopologyError(GenweaveError, ValueError):
    """A topology file or preset cannot be used; raised before anything starts."""


class ProtocolError(GenweaveError):
    """A peer sent a frame that is not a valid genweave message."""


class CallError(GenweaveError):
    """A call through a Ref failed.

    ``component`` and ``method`` name the callee; ``where`` names the replica
    (``group/replica``) when the failure happened remotely.
    """

    status: ClassVar[HTTPStatus] = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(
        self, message: str, *, component: str = "", method: str = "", where: str = ""
    ) -> None:
        self.message = message
        self.component = component
        self.method = method
        self.where = where
        super().__init__(self._render())

    @property
    def target(self) -> str:
        """``Component.method`` of the callee, as far as it is known."""
        return f"{self.component}.{self.method}" if self.method else self.component

    def _render(self) -> str:
        prefix = f"{self.target}: " if self.component else ""
        suffix = f" (at {self.where})" if self.where else ""
        return f"{prefix}{self.message}{suffix}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields survive copy/pickle (used by tests and by asyncio).
        return (_rebuild, (type(self), self.message, self.component, self.method, self.where))


def _rebuild(
    cls: type[CallError], message: str, component: str, method: str, where: str
) -> CallError:
    return cls(message, component=component, method=method, where=where)


class InvalidArgument(CallError, TypeError):
    """The arguments of a call do not match the method's declared types."""

    status = HTTPStatus.BAD_REQUEST


class MessageTooLarge(CallError):
    """A request or result is larger than the configured message size limit."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class NotFound(CallError, LookupError):
    """The callee does not host the named component or method."""

    status = HTTPStatus.NOT_FOUND


class PermissionDenied(CallError):
    """The callee refused the caller: nothing in the app's Ref graph lets it make this call.

    A component may call another only through a Ref it declares, so a replica
    takes ``Component.method`` only from groups hosting a component with a Ref
    to ``Component`` (and from the deployer's control identity).  The caller's
    identity is proven by the transport: a certificate over TCP, the peer's
    credentials over a Unix socket.
    """

    status = HTTPStatus.FORBIDDEN


class InterfaceMismatch(CallError):
    """Caller and callee run versions whose interfaces are incompatible."""

    status = HTTPStatus.CONFLICT


class Unavailable(CallError):
    """No replica could take the call; it was not executed and may be retried."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class ConnectionLost(Unavailable):
    """The connection to the callee broke while the call was in flight.

    Unlike a plain ``Unavailable``, the call may or may not have run.
    """


class Overloaded(Unavailable):
    """The call was refused, not run: a concurrency limit was reached.

    Raised by a callee whose queue of waiting calls is full, and by a Ref whose
    bulkhead is full.  Refusing at once keeps latency bounded under overload;
    the caller may retry later (the gateway answers 503 with ``Retry-After``).
    """


class CircuitOpen(Unavailable):
    """The Ref's circuit breaker is open: recent calls failed, this one was not sent."""


class DeadlineExceeded(CallError, TimeoutError):
    """The call's deadline passed before a result arrived."""

    status = HTTPStatus.GATEWAY_TIMEOUT


class ComponentError(CallError):
    """The called method raised an exception.

    ``remote_type`` is the qualified name of the original exception class.
    Instances are created through :func:`component_error`, which mixes in the
    original class when it can be found, so ``except KeyError`` still matches.
    """

    def __init__(self, message: str, *, component: str = "", method: str = "", where: str = "",
                 remote_type: str = "builtins.Exception") -> None:
        self.remote_type = remote_type
        super().__init__(message, component=component, method=method, where=where)

    def _render(self) -> str:
        kind = self.remote_type.rpartition(".")[2]
        return super()._render().replace(self.message, f"{kind}: {self.message}", 1)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_component_error, (type(self), self.message, self.component, self.method,
                                           self.where, self.remote_type))


def _rebuild_component_error(cls: type[ComponentError], message: str, component: str,
                             method: str, where: str, remote_type: str) -> ComponentError:
    return cls(message, component=component, method=method, where=where, remote_type=remote_type)


CALL_ERRORS: dict[str, type[CallError]] = {
    cls.__name__: cls
    for cls in (
        CallError,
        InvalidArgument,
        MessageTooLarge,
        NotFound,
        PermissionDenied,
        InterfaceMismatch,
        Unavailable,
        ConnectionLost,
        Overloaded,
        CircuitOpen,
        DeadlineExceeded,
        ComponentError,
    )
}
"""The genweave error classes by the name a ``Failure`` message carries."""


def error_kind(error: CallError) -> str:
    """The name of the genweave class of ``error``, as sent on the wire."""
    for cls in type(error).__mro__:
        if CALL_ERRORS.get(cls.__name__) is cls:
            return cls.__name__
    return CallError.__name__


_mixed_classes: dict[type[BaseException], type[ComponentError]] = {}


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, as sent on the wire."""
    return f"{cls.__module__}.{cls.__qualname__}"


def find_exception_class(name: str) -> type[Exception] | None:
    """Look up an exception class by qualified name among already-imported modules.

    Nothing is imported: a name from the wire must never cause code to run.
    """
    module_name, _, qualname = name.rpartition(".")
    obj: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, Exception):
        return obj
    return None


def component_error(
    remote_type: str, message: str, *, component: str, method: str, where: str = ""
) -> ComponentError:
    """Build the ``ComponentError`` a caller sees when a method raised ``remote_type``."""
    original = find_exception_class(remote_type)
    cls: type[ComponentError] = ComponentError
    if original is not None and not issubclass(original, CallError):
        cls = _mixed_class(original)
    try:
        return cls(message, component=component, method=method, where=where,
                   remote_type=remote_type)
    except TypeError:  # the original class's __init__ wants other arguments
        return ComponentError(message, component=component, method=method, where=where,
                              remote_type=remote_type)


def _mixed_class(original: type[Exception]) -> type[ComponentError]:
    cls = _mixed_classes.get(original)
    if cls is None:
        try:
            cls = type(original.__name__, (ComponentError, original), {})
        except TypeError:  # incompatible layouts (rare C exception types): no mix-in
            cls = ComponentError
        _mixed_classes[original] = cls
    return cls
