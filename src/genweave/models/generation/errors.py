"""What can go wrong while generating text, whatever the backend.

::

    GenweaveError
    └── GenerationError             base of every text-backend error
        ├── BackendOverloaded       too many requests wait for a batch slot (retry later)
        ├── BackendClosed           the backend was closed; create a new one
        ├── PromptTooLong           the prompt leaves no room in the model's context (ValueError)
        ├── MissingDependency       an optional package is not installed (ImportError)
        └── RemoteError             an OpenAI-compatible server failed the request
            ├── AuthenticationFailed    401 / 403: the API key was refused
            ├── ModelNotFound           404: unknown model or wrong base_url
            ├── InvalidRequest          400 / 422: the server rejected the parameters
            ├── RateLimited             429: the server asks to slow down
            └── RemoteUnavailable       5xx, refused connection
                └── RemoteTimeout       no answer in time (also a TimeoutError)

``RemoteError`` keeps what the server said: ``status``, ``message``, ``type``
and ``code`` (OpenAI's error shape), and the ``url`` that was called.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from genweave.errors import GenweaveError

__all__ = [
    "AuthenticationFailed",
    "BackendClosed",
    "BackendOverloaded",
    "GenerationError",
    "InvalidRequest",
    "MissingDependency",
    "ModelNotFound",
    "PromptTooLong",
    "RateLimited",
    "RemoteError",
    "RemoteTimeout",
    "RemoteUnavailable",
    "WeightsNotFound",
    "remote_error_class",
]

MODELS_EXTRA: Final = "pip install genweave[models]"


class GenerationError(GenweaveError):
    """Base class of the errors raised by text-generation backends."""


class BackendOverloaded(GenerationError):
    """The waiting queue is full; the request was not started and may be retried."""


class BackendClosed(GenerationError):
    """The backend was closed, so it no longer accepts or finishes requests."""


class PromptTooLong(GenerationError, ValueError):
    """The prompt is as long as the model's context or longer."""


class WeightsNotFound(GenerationError, FileNotFoundError):
    """The weights file a backend's ``path`` names does not exist."""


class MissingDependency(GenerationError, ImportError):
    """A backend needs an optional package that is not installed."""

    def __init__(self, package: str, backend: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"the {backend} backend needs the '{package}' package, which could not be "
            f"imported{detail}; install it with `{MODELS_EXTRA}`"
        )


class RemoteError(GenerationError):
    """An OpenAI-compatible server answered with an error, or did not answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        url: str = "",
        type: str = "",
        code: str = "",
    ) -> None:
        self.message = message
        self.status = status
        self.url = url
        self.type = type
        self.code = code
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.url}: " if self.url else ""
        if not self.status:
            return f"{where}{self.message}"
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "error"
        return f"{where}HTTP {self.status} {phrase}: {self.message}{self._hint()}"

    def _hint(self) -> str:
        return ""

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields survive pickling (asyncio and the RPC codec copy errors).
        return (_rebuild, (type(self), self.message, self.status, self.url, self.type, self.code))


def _rebuild(
    cls: type[RemoteError], message: str, status: int, url: str, kind: str, code: str
) -> RemoteError:
    return cls(message, status=status, url=url, type=kind, code=code)


class AuthenticationFailed(RemoteError, PermissionError):
    def _hint(self) -> str:
        return " (check the api_key setting, or the OPENAI_API_KEY environment variable)"


class ModelNotFound(RemoteError, LookupError):
    def _hint(self) -> str:
        return " (check the model name and that base_url ends with the API prefix, e.g. /v1)"


class InvalidRequest(RemoteError, ValueError):
    """The server refused the request's parameters (too many tokens, a bad value)."""


class RateLimited(RemoteError):
    def _hint(self) -> str:
        return " (the server is rate limiting; retry later or lower the request rate)"


class RemoteUnavailable(RemoteError):
    """The server failed, or could not be reached; the request may be retried."""


class RemoteTimeout(RemoteUnavailable, TimeoutError):
    """The server did not answer within the configured timeout."""


_BY_STATUS: Final[dict[int, type[RemoteError]]] = {
    HTTPStatus.BAD_REQUEST: InvalidRequest,
    HTTPStatus.UNAUTHORIZED: AuthenticationFailed,
    HTTPStatus.FORBIDDEN: AuthenticationFailed,
    HTTPStatus.NOT_FOUND: ModelNotFound,
    HTTPStatus.REQUEST_TIMEOUT: RemoteTimeout,
    HTTPStatus.UNPROCESSABLE_ENTITY: InvalidRequest,
    HTTPStatus.TOO_MANY_REQUESTS: RateLimited,
    HTTPStatus.GATEWAY_TIMEOUT: RemoteTimeout,
}


def remote_error_class(status: int) -> type[RemoteError]:
    """The error class for an HTTP status a server answered with.

    >>> remote_error_class(401).__name__
    'AuthenticationFailed'
    """
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return RemoteUnavailable if status >= HTTPStatus.INTERNAL_SERVER_ERROR else RemoteError
