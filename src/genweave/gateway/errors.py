"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Every failure an HTTP client can cause or see maps to one status here; nothing
reaches the client as a traceback.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Final

import msgspec
from starlette.responses import Response

from genweave.errors import (
    CallError,
    CircuitOpen,
    ComponentError,
    DeadlineExceeded,
    InterfaceMismatch,
    InvalidArgument,
    MessageTooLarge,
    NotFound,
    Overloaded,
    PermissionDenied,
    Unavailable,
)

__all__ = [
    "APIError",
    "closing_error",
    "error_response",
    "from_call_error",
    "from_validation_error",
]

_MISSING_FIELD: Final = re.compile(r"^Object missing required field `([^`]+)`$")
_TYPES: Final = {
    HTTPStatus.BAD_REQUEST: "invalid_request_error",
    HTTPStatus.UNAUTHORIZED: "authentication_error",
    HTTPStatus.FORBIDDEN: "permission_error",
    HTTPStatus.NOT_FOUND: "not_found_error",
    HTTPStatus.METHOD_NOT_ALLOWED: "invalid_request_error",
    HTTPStatus.REQUEST_TIMEOUT: "timeout_error",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "invalid_request_error",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "invalid_request_error",
    HTTPStatus.TOO_MANY_REQUESTS: "rate_limit_error",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "invalid_request_error",
    HTTPStatus.SERVICE_UNAVAILABLE: "service_unavailable_error",
    HTTPStatus.GATEWAY_TIMEOUT: "timeout_error",
}


class _ErrorBody(msgspec.Struct, omit_defaults=False):
    message: str
    type: str
    param: str | None
    code: str | None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody


class APIError(Exception):
    """An error answered to the client as-is, in OpenAI's shape."""

    def __init__(self, status: HTTPStatus, message: str, *, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> bytes:
        kind = _TYPES.get(self.status, "server_error")
        return msgspec.json.encode(_ErrorEnvelope(_ErrorBody(self.message, kind, self.param,
                                                             self.code)))


def error_response(error: APIError) -> Response:
    return Response(error.body(), status_code=error.status, headers=error.headers,
                    media_type="application/json")


def closing_error(status: HTTPStatus, message: str, *, code: str,
                  retry_after: bool = False) -> APIError:
    """An error after which the connection is closed.

    For refusals made before a request is read, or while it is: its unread
    bytes (a body still arriving, say) must never be taken for the next request,
    and a client that holds too much should open a new connection to go on.
    """
    headers = {"Connection": "close", **({"Retry-After": "1"} if retry_after else {})}
    return APIError(status, message, code=code, headers=headers)


def from_validation_error(message: str) -> APIError:
    """``Expected `int`, got `str` - at `$.max_tokens``` -> 400 naming ``max_tokens``.

    A missing field is named with the path of the object that lacks it, as
    OpenAI names it: ``messages[0].content``, not ``messages[0]``.
    """
    reason, sep, path = message.partition(" - at `$")
    param = path.rstrip("`").lstrip(".") or None if sep else None
    missing = _MISSING_FIELD.match(reason)
    if missing is not None:
        param = f"{param}.{missing.group(1)}" if param else missing.group(1)
    return APIError(HTTPStatus.BAD_REQUEST, reason if sep else message, param=param,
                    code="invalid_value")


def from_call_error(error: CallError) -> APIError:
    """The HTTP face of a failed component call."""
    component = error.component or "a component"
    if isinstance(error, Overloaded):
        return APIError(HTTPStatus.SERVICE_UNAVAILABLE, f"{component} is overloaded: "
                        f"{error.message}", code="overloaded", headers={"Retry-After": "1"})
    if isinstance(error, CircuitOpen):
        return APIError(HTTPStatus.SERVICE_UNAVAILABLE, f"{component} is unavailable: "
                        f"{error.message}", code="circuit_open", headers={"Retry-After": "1"})
    if isinstance(error, Unavailable):
        return APIError(HTTPStatus.SERVICE_UNAVAILABLE,
                        f"{component} is unavailable: {error.message}", code="unavailable")
    if isinstance(error, DeadlineExceeded):
        return APIError(HTTPStatus.GATEWAY_TIMEOUT,
                        f"{component} did not answer in time: {error.message}", code="timeout")
    if isinstance(error, InterfaceMismatch):  # two versions side by side: say which
        return APIError(HTTPStatus.CONFLICT, f"{component} runs an incompatible version: "
                        f"{error.message}", code="interface_mismatch")
    if isinstance(error, InvalidArgument):
        return APIError(HTTPStatus.BAD_REQUEST, error.message, code="invalid_value")
    if isinstance(error, MessageTooLarge):
        return APIError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, error.message, code="too_large")
    if isinstance(error, NotFound):
        return APIError(HTTPStatus.NOT_FOUND, error.message, code="not_found")
    if isinstance(error, PermissionDenied):
        return APIError(HTTPStatus.FORBIDDEN, f"{component} refused the call: {error.message}",
                        code="permission_denied")
    if isinstance(error, ComponentError) and error.remote_type in _MISSING:
        return APIError(HTTPStatus.NOT_FOUND, error.message, code="not_found")
    if isinstance(error, ComponentError) and error.remote_type in _CLIENT_ERRORS:
        return APIError(HTTPStatus.BAD_REQUEST, error.message, code="invalid_value")
    if isinstance(error, ComponentError) and error.remote_type.endswith(_OVERLOADED):
        return APIError(HTTPStatus.SERVICE_UNAVAILABLE,
                        f"{component} is overloaded: {error.message}", code="overloaded",
                        headers={"Retry-After": "1"})
    return APIError(HTTPStatus.INTERNAL_SERVER_ERROR,
                    f"{error.target or component} failed; the error is logged on the server",
                    code="internal_error")


_CLIENT_ERRORS: Final = frozenset({"builtins.ValueError"})
"""Exception types a component raises for bad input: reported as 400, message kept."""
_MISSING: Final = frozenset({"builtins.LookupError", "builtins.KeyError"})
"""Exception types a component raises for something that does not exist: 404."""
_OVERLOADED: Final = "Overloaded"
"""Suffix of the exception types components raise when their queues are full."""
