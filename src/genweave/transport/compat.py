"""Interface compatibility between a caller's and a callee's version of a component.

Groups deploy independently, so for a while a caller may run another version
than its callee.  Like msgspec Structs with defaults, adding an optional
parameter is compatible both ways; a missing method, a new required parameter
or a changed type is not, and the call fails at once naming both versions.
"""

from __future__ import annotations

from genweave.codec import type_name
from genweave.component import ComponentSpec, MethodSpec
from genweave.transport.messages import InterfaceInfo, MethodInfo

__all__ = ["incompatibility", "interface_info"]


def interface_info(spec: ComponentSpec) -> InterfaceInfo:
    """What a callee announces about one component it serves."""
    return InterfaceInfo(
        version=spec.version,
        fingerprint=spec.fingerprint,
        methods={
            name: MethodInfo(
                params=[(p.name, type_name(p.annotation), p.required) for p in m.params],
                result=type_name(m.result),
                stream=m.stream,
            )
            for name, m in spec.methods.items()
        },
    )


def incompatibility(spec: MethodSpec, callee: InterfaceInfo | None) -> str | None:
    """Why the caller's ``spec`` cannot call the callee's interface, or ``None`` if it can."""
    if callee is None:
        return "the callee does not serve this component"
    remote = callee.methods.get(spec.name)
    if remote is None:
        return _versions(spec, callee, "the callee has no such method")
    return _method_problem(spec, remote, callee)


def _method_problem(spec: MethodSpec, remote: MethodInfo, callee: InterfaceInfo) -> str | None:
    if remote.stream != spec.stream:
        kind = "streams" if remote.stream else "returns a single value"
        return _versions(spec, callee, f"the callee's method {kind}")
    if remote.result != type_name(spec.result):
        return _versions(spec, callee, f"result type {type_name(spec.result)} at the caller, "
                                       f"{remote.result} at the callee")
    local = {p.name: p for p in spec.params}
    for name, type_, required in remote.params:
        mine = local.get(name)
        if mine is None:
            if required:
                return _versions(spec, callee, f"the callee requires parameter '{name}', "
                                               "which the caller does not send")
            continue
        if type_name(mine.annotation) != type_:
            return _versions(spec, callee, f"parameter '{name}' is {type_name(mine.annotation)} "
                                           f"at the caller, {type_} at the callee")
    return None


def _versions(spec: MethodSpec, callee: InterfaceInfo, reason: str) -> str:
    return f"caller has version {spec.version}, callee has version {callee.version} " \
           f"(interface {callee.fingerprint}): {reason}"

