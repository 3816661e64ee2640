"""Errors in OpenAI's shape: every failed call gets its status, type, code and, when the
client should come back later, ``Retry-After``; nothing internal leaks."""

from __future__ import annotations

from http import HTTPStatus

import msgspec
import pytest

from genweave.errors import (
    CallError,
    CircuitOpen,
    ComponentError,
    ConnectionLost,
    DeadlineExceeded,
    InterfaceMismatch,
    InvalidArgument,
    MessageTooLarge,
    NotFound,
    Overloaded,
    Unavailable,
)
from genweave.gateway.errors import (
    APIError,
    error_response,
    from_call_error,
    from_validation_error,
)

WHERE = {"component": "Generator", "method": "chat", "where": "model/0"}


def remote(remote_type: str, message: str = "it broke") -> ComponentError:
    return ComponentError(message, remote_type=remote_type, **WHERE)


@pytest.mark.parametrize(("error", "status", "kind", "code", "message"), [
    (Overloaded("queue full", **WHERE), 503, "service_unavailable_error", "overloaded",
     "Generator is overloaded: queue full"),
    (CircuitOpen("recent calls failed", **WHERE), 503, "service_unavailable_error",
     "circuit_open", "Generator is unavailable: recent calls failed"),
    (Unavailable("no ready replica", **WHERE), 503, "service_unavailable_error",
     "unavailable", "Generator is unavailable: no ready replica"),
    (ConnectionLost("the callee died", **WHERE), 503, "service_unavailable_error",
     "unavailable", "Generator is unavailable: the callee died"),
    (DeadlineExceeded("2.0 s passed", **WHERE), 504, "timeout_error", "timeout",
     "Generator did not answer in time: 2.0 s passed"),
    (InterfaceMismatch("caller has v2 (adds 'top_k'), callee has v1", **WHERE), 409,
     "server_error", "interface_mismatch",
     "Generator runs an incompatible version: caller has v2 (adds 'top_k'), callee has v1"),
    (InvalidArgument("parameter 'n': expected `int`", **WHERE), 400,
     "invalid_request_error", "invalid_value", "parameter 'n': expected `int`"),
    (MessageTooLarge("the request is 9 MB, above 8 MB", **WHERE), 413,
     "invalid_request_error", "too_large", "the request is 9 MB, above 8 MB"),
    (NotFound("no job 'j-1'", **WHERE), 404, "not_found_error", "not_found", "no job 'j-1'"),
    (remote("builtins.KeyError", "'j-1'"), 404, "not_found_error", "not_found", "'j-1'"),
    (remote("builtins.LookupError", "no such document"), 404, "not_found_error", "not_found",
     "no such document"),
    (remote("builtins.ValueError", "embed takes 1 to 512 texts, got 0"), 400,
     "invalid_request_error", "invalid_value", "embed takes 1 to 512 texts, got 0"),
    (remote("genweave.models.batching.BatcherOverloaded", "queue of 64 full"), 503,
     "service_unavailable_error", "overloaded", "Generator is overloaded: queue of 64 full"),
    (remote("builtins.RuntimeError", "CUDA out of memory at 0x7f00"), 500, "server_error",
     "internal_error", "Generator.chat failed; the error is logged on the server"),
])
def test_each_kind_of_failed_call_has_its_status_type_code_and_message(
    error: CallError, status: int, kind: str, code: str, message: str,
) -> None:
    api_error = from_call_error(error)
    assert (api_error.status, api_error.code, api_error.message) == (status, code, message)
    assert msgspec.json.decode(api_error.body()) == {"error": {
        "message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize("error", [
    Overloaded("queue full", **WHERE),
    CircuitOpen("open", **WHERE),
    remote("app.QueueOverloaded", "full"),
])
def test_refusals_that_pass_soon_say_when_to_retry(error: CallError) -> None:
    assert from_call_error(error).headers == {"Retry-After": "1"}


@pytest.mark.parametrize("error", [
    Unavailable("no ready replica", **WHERE),
    DeadlineExceeded("late", **WHERE),
    remote("builtins.RuntimeError"),
])
def test_other_failures_do_not_ask_the_client_to_retry(error: CallError) -> None:
    assert from_call_error(error).headers == {}


def test_an_internal_error_never_shows_the_exception_text() -> None:
    error = remote("builtins.RuntimeError", "password=hunter2 in /etc/secret.conf")
    body = from_call_error(error).body()
    assert b"hunter2" not in body and b"RuntimeError" not in body and b"model/0" not in body


def test_an_error_without_a_known_component_still_reads() -> None:
    assert from_call_error(Unavailable("no ready replica")).message == \
        "a component is unavailable: no ready replica"
    assert from_call_error(ComponentError("boom")).message == \
        "a component failed; the error is logged on the server"


@pytest.mark.parametrize(("message", "param", "reason"), [
    ("Expected `int`, got `str` - at `$.max_tokens`", "max_tokens", "Expected `int`, got `str`"),
    ("Expected `float` <= 2.0 - at `$.temperature`", "temperature", "Expected `float` <= 2.0"),
    ("Object missing required field `messages`", "messages",
     "Object missing required field `messages`"),
    ("Expected `object`, got `array`", None, "Expected `object`, got `array`"),
])
def test_a_validation_error_is_400_naming_the_parameter(message: str, param: str | None,
                                                        reason: str) -> None:
    error = from_validation_error(message)
    assert (error.status, error.param, error.code, error.message) == (
        HTTPStatus.BAD_REQUEST, param, "invalid_value", reason)
    assert msgspec.json.decode(error.body())["error"]["type"] == "invalid_request_error"


def test_a_nested_parameter_keeps_its_path() -> None:
    error = from_validation_error("Expected `str`, got `int` - at `$.messages[0].content`")
    assert error.param == "messages[0].content"


def test_a_missing_nested_field_is_named_with_its_path() -> None:
    error = from_validation_error("Object missing required field `content` - at `$.messages[0]`")
    assert error.param == "messages[0].content"


@pytest.mark.parametrize(("status", "kind"), [
    (HTTPStatus.UNAUTHORIZED, "authentication_error"),
    (HTTPStatus.TOO_MANY_REQUESTS, "rate_limit_error"),
    (HTTPStatus.METHOD_NOT_ALLOWED, "invalid_request_error"),
    (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "invalid_request_error"),
    (HTTPStatus.CONFLICT, "server_error"),
    (HTTPStatus.INTERNAL_SERVER_ERROR, "server_error"),
])
def test_the_error_type_follows_the_status(status: HTTPStatus, kind: str) -> None:
    body = msgspec.json.decode(APIError(status, "m").body())
    assert body == {"error": {"message": "m", "type": kind, "param": None, "code": None}}


def test_error_response_is_json_with_the_status_and_headers() -> None:
    error = APIError(HTTPStatus.TOO_MANY_REQUESTS, "Slow down.", param="model",
                     code="rate_limit_exceeded", headers={"Retry-After": "7"})
    response = error_response(error)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "7"
    assert msgspec.json.decode(response.body) == {"error": {
        "message": "Slow down.", "type": "rate_limit_error", "param": "model",
        "code": "rate_limit_exceeded"}}


def test_an_api_error_is_an_exception_carrying_its_message() -> None:
    error = APIError(HTTPStatus.NOT_FOUND, "The model `gpt-9` does not exist.")
    assert str(error) == "The model `gpt-9` does not exist." and error.headers == {}
