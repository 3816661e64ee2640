"""Components, Refs and method options.

A component is a plain class whose public ``async def`` methods are its
interface.  ``@component`` inspects it once, at definition time, and rejects
anything that could not later be split into another process: unannotated or
unserialisable parameters, variadic arguments, streams without an item type.

Example::

    from collections.abc import AsyncIterator
    from genweave import Ref, component, method

    @component
    class Greeter:
        @method(idempotent=True, timeout=2.0)
        async def greet(self, name: str) -> str:
            return f"hello {name}"

    @component
    class Frontend:
        greeter: Ref[Greeter]

        async def hello(self, name: str) -> str:
            return await self.greeter.greet(name)

        async def spell(self, word: str) -> AsyncIterator[str]:
            for letter in word:
                yield letter
"""

from __future__ import annotations

import collections.abc
import hashlib
import inspect
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, TypeVar, overload

import msgspec

from genweave.codec import check_serialisable, decoder, type_name
from genweave.errors import DefinitionError

__all__ = [
    "LIFECYCLE_HOOKS",
    "ComponentSpec",
    "MethodOptions",
    "MethodSpec",
    "ParamSpec",
    "Ref",
    "component",
    "injected_annotations",
    "method",
    "spec_of",
]

T = TypeVar("T")
C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

LIFECYCLE_HOOKS: Final = frozenset({"on_start", "on_stop"})
"""Optional ``async def on_start(self)`` / ``on_stop(self)``: run by the host, not callable."""

_SPEC_ATTR: Final = "__genweave_component__"
_OPTIONS_ATTR: Final = "__genweave_method__"
_INJECTED_NAMES: Final = re.compile(r"\b(?:Ref|Runtime)\b")
_STREAM_ORIGINS: Final = (
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)


class _RefMarker:
    """Marks an attribute annotation as a dependency to be injected by the runtime."""

    def __repr__(self) -> str:
        return "genweave.Ref"


REF_MARKER: Final = _RefMarker()

Ref = Annotated[T, REF_MARKER]
"""``greeter: Ref[Greeter]`` declares a dependency on another component.

To a type checker, ``Ref[Greeter]`` *is* ``Greeter``, so calls through it are
checked like direct calls.  At run time the host injects a proxy that calls the
target directly in the same group, or over RPC when it lives elsewhere.
"""


@dataclass(frozen=True, slots=True)
class MethodOptions:
    """Per-method call options.

    ``idempotent`` methods may be retried when a connection breaks mid-call;
    ``timeout`` (seconds) bounds every call unless the caller's deadline is sooner.
    """

    idempotent: bool = False
    timeout: float | None = None


@overload
def method(fn: F, /) -> F: ...
@overload
def method(*, idempotent: bool = False, timeout: float | None = None) -> Callable[[F], F]: ...
def method(
    fn: F | None = None, /, *, idempotent: bool = False, timeout: float | None = None
) -> F | Callable[[F], F]:
    """Attach call options to a component method.

    Example::

        @method(idempotent=True, timeout=5.0)
        async def embed(self, texts: list[str]) -> list[list[float]]: ...
    """
    if timeout is not None and timeout <= 0:
        raise DefinitionError(f"method timeout must be positive, got {timeout!r}")
    options = MethodOptions(idempotent=idempotent, timeout=timeout)

    def apply(f: F) -> F:
        setattr(f, _OPTIONS_ATTR, options)
        return f

    return apply(fn) if fn is not None else apply


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of a component method, as it appears on the wire."""

    name: str
    annotation: Any
    required: bool


@dataclass(eq=False, slots=True)
class MethodSpec:
    """Everything the runtime needs to call one method, locally or remotely."""

    component: str
    version: str
    name: str
    params: tuple[ParamSpec, ...]
    result: Any
    stream: bool
    options: MethodOptions
    args_type: type[msgspec.Struct]
    args_decoder: msgspec.msgpack.Decoder[Any] = field(repr=False)
    result_decoder: msgspec.msgpack.Decoder[Any] = field(repr=False)

    @property
    def qualname(self) -> str:
        return f"{self.component}.{self.name}"

    def descriptor(self) -> tuple[object, ...]:
        """Shape of the method for interface fingerprints and compatibility checks."""
        return (
            self.name,
            tuple((p.name, type_name(p.annotation), p.required) for p in self.params),
            type_name(self.result),
            self.stream,
        )


@dataclass(eq=False)
class ComponentSpec:
    """A validated component class: its name, methods, dependencies and role."""

    cls: type
    name: str
    methods: dict[str, MethodSpec]
    role: str | None
    version: str
    config: type | None = None
    _refs: dict[str, type] | None = field(default=None, repr=False)

    @property
    def refs(self) -> dict[str, type]:
        """Attribute name -> target component class, resolved on first use.

        Resolved lazily so that ``Ref["Later"]`` may name a class defined after
        this one.
        """
        if self._refs is None:
            self._refs = _resolve_refs(self.cls, self.name)
        return self._refs

    @property
    def fingerprint(self) -> str:
        """A short hash of the interface; equal fingerprints are always compatible."""
        text = repr(sorted(m.descriptor() for m in self.methods.values()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@overload
def component(cls: C, /) -> C: ...
@overload
def component(
    *, name: str | None = None, role: str | None = None, version: str = "1",
    config: type | None = None,
) -> Callable[[C], C]: ...
def component(
    cls: C | None = None,
    /,
    *,
    name: str | None = None,
    role: str | None = None,
    version: str = "1",
    config: type | None = None,
) -> C | Callable[[C], C]:
    """Declare a class as a component; usable bare or with options.

    ``role="inference"`` marks model-serving components, which the ``hybrid``
    preset places in groups of their own.  ``config`` names a msgspec Struct
    (with defaults) of settings: the host sets ``self.config`` from the
    ``[components.NAME]`` table of the topology file before ``on_start``.
    The class is returned unchanged (plus its spec), so it can still be
    instantiated directly in unit tests.
    An existing class becomes a component with a one-line ``component(MyClass)``.
    """

    def apply(target: C) -> C:
        if not isinstance(target, type):
            raise DefinitionError(f"@component applies to classes, not {target!r}")
        spec = ComponentSpec(
            cls=target,
            name=name or target.__name__,
            methods=_collect_methods(target, name or target.__name__, version),
            role=role,
            version=version,
            config=config,
        )
        if config is not None:
            check_serialisable(config, f"{spec.name}, config")
        setattr(target, _SPEC_ATTR, spec)
        return target

    return apply(cls) if cls is not None else apply


def spec_of(cls: object) -> ComponentSpec:
    """The ``ComponentSpec`` of a component class; ``DefinitionError`` if it is not one."""
    spec = getattr(cls, _SPEC_ATTR, None)
    if not isinstance(spec, ComponentSpec) or spec.cls is not cls:
        raise DefinitionError(f"{cls!r} is not a component; decorate it with @component")
    return spec


def _collect_methods(cls: type, component_name: str, version: str) -> dict[str, MethodSpec]:
    methods: dict[str, MethodSpec] = {}
    for attr, fn in inspect.getmembers(cls, inspect.isfunction):
        if attr.startswith("_"):
            continue
        is_stream_fn = inspect.isasyncgenfunction(fn)
        if not (is_stream_fn or inspect.iscoroutinefunction(fn)):
            continue
        if attr in LIFECYCLE_HOOKS:
            _check_hook(fn, f"{component_name}.{attr}")
            continue
        methods[attr] = _method_spec(component_name, version, attr, fn, is_stream_fn)
    return methods


def _check_hook(fn: Callable[..., Any], where: str) -> None:
    if len(inspect.signature(fn).parameters) != 1:
        raise DefinitionError(f"{where}: lifecycle hooks take no arguments besides self")


def _method_spec(
    component_name: str, version: str, name: str, fn: Callable[..., Any], is_stream_fn: bool
) -> MethodSpec:
    where = f"{component_name}.{name}"
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise DefinitionError(
            f"{where}: cannot resolve its type annotations ({exc}); define the types it "
            "uses before the component class"
        ) from None
    params = _params(fn, hints, where)
    if "return" not in hints:
        raise DefinitionError(f"{where}: missing return annotation (use '-> None' if none)")
    result, stream = _result_type(hints["return"], is_stream_fn, where)
    check_serialisable(result, f"{where}, {'stream item' if stream else 'result'}")
    args_type = msgspec.defstruct(
        f"{where}.args",
        [
            (p.name, p.annotation) if p.required else (p.name, p.annotation, _default(fn, p.name))
            for p in params
        ],
    )
    return MethodSpec(
        component=component_name,
        version=version,
        name=name,
        params=params,
        result=result,
        stream=stream,
        options=getattr(fn, _OPTIONS_ATTR, MethodOptions()),
        args_type=args_type,
        args_decoder=decoder(args_type),
        result_decoder=decoder(result),
    )


def _params(fn: Callable[..., Any], hints: dict[str, Any], where: str) -> tuple[ParamSpec, ...]:
    params: list[ParamSpec] = []
    seen_optional = False
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(
                f"{where}: variadic parameter '{param.name}' is not supported; "
                "declare each parameter with a type"
            )
        if param.name not in hints:
            raise DefinitionError(f"{where}: parameter '{param.name}' has no type annotation")
        required = param.default is inspect.Parameter.empty
        if required and seen_optional:
            raise DefinitionError(
                f"{where}: required parameter '{param.name}' follows an optional one"
            )
        seen_optional = seen_optional or not required
        check_serialisable(hints[param.name], f"{where}, parameter '{param.name}'")
        params.append(ParamSpec(param.name, hints[param.name], required))
    return tuple(params)


def _default(fn: Callable[..., Any], name: str) -> Any:
    return inspect.signature(fn).parameters[name].default


def _result_type(annotation: Any, is_stream_fn: bool, where: str) -> tuple[Any, bool]:
    if annotation in _STREAM_ORIGINS:
        raise DefinitionError(f"{where}: AsyncIterator needs an item type, e.g. [str]")
    origin = typing.get_origin(annotation)
    is_stream_type = origin in _STREAM_ORIGINS
    if is_stream_fn and not is_stream_type:
        raise DefinitionError(
            f"{where}: an async generator must be annotated '-> AsyncIterator[T]'"
        )
    if is_stream_type:
        return typing.get_args(annotation)[0], True
    return annotation, False


def _resolve_refs(cls: type, component_name: str) -> dict[str, type]:
    refs: dict[str, type] = {}
    for attr, hint in injected_annotations(cls, component_name).items():
        if typing.get_origin(hint) is Annotated and REF_MARKER in hint.__metadata__:
            target = typing.get_args(hint)[0]
            try:
                spec_of(target)
            except DefinitionError:
                raise DefinitionError(
                    f"{component_name}.{attr}: Ref target {target!r} is not a component; "
                    "decorate it with @component"
                ) from None
            refs[attr] = target
    return refs


def injected_annotations(cls: type, component_name: str) -> dict[str, Any]:
    """Evaluated annotations of ``cls``; only those that mention ``Ref`` or ``Runtime``
    (what the host injects) must resolve.

    Other annotations (``config: Settings`` on a class defined inside a function,
    say) may name types that are not resolvable from the module and are skipped.
    """
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError):
        pass
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        module_globals = vars(sys.modules.get(klass.__module__, object))
        for attr, annotation in vars(klass).get("__annotations__", {}).items():
            if isinstance(annotation, str) and not _INJECTED_NAMES.search(annotation):
                continue
            try:
                hints[attr] = typing._eval_type(  # type: ignore[attr-defined]
                    typing.ForwardRef(annotation) if isinstance(annotation, str) else annotation,
                    module_globals, dict(vars(klass)),
                )
            except (NameError, TypeError) as exc:
                raise DefinitionError(
                    f"{component_name}.{attr}: cannot resolve annotation {annotation!r} ({exc})"
                ) from None
    return hints
