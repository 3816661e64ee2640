"""The floor the gateway bench is compared against: the same work, inline, on bare uvicorn.

``POST /work {"text": ...}`` upper-cases the text (B's work) and answers
``{"text": ..., "chars": ...}`` (A's work), decoding and encoding with msgspec
as genweave's gateway does.  Two floors:

- ``starlette``: one Starlette ``Route``, the plumbing genweave's gateway is
  built on, so the ratio to it is what genweave's own layers cost;
- ``asgi``: a bare ASGI callable, the least any Python server on uvicorn does.

Each runs in its own process on uvloop, with uvicorn's HTTP protocol chosen the
way genweave's ``HttpServer`` chooses it (``auto``: httptools where installed,
else h11) unless ``--http`` says otherwise, so the floor and the gateway parse
HTTP with the same code.  This module imports neither genweave nor the bench's
components, so the floor's resident memory is that of a bare server.

Run as ``python bench/_http_floor.py starlette|asgi [--http auto|h11|httptools]``:
it prints its port once listening and exits when its stdin closes, so it never
outlives the bench that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

import msgspec

__all__ = ["FLOORS", "Floor", "WorkRequest", "WorkResponse", "floor_server", "work"]

FLOORS: Final = ("starlette", "asgi")
HOST: Final = "127.0.0.1"
JSON: Final = "application/json"
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 5.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class WorkRequest(msgspec.Struct):
    text: str


class WorkResponse(msgspec.Struct):
    text: str
    chars: int


def transform(text: str) -> str:
    """B's work: trivial on purpose, so the bench measures the path, not the work."""
    return text.upper()


def work(request: WorkRequest) -> WorkResponse:
    """A's and B's work done inline, as the floor does it."""
    return WorkResponse(text=transform(request.text), chars=len(request.text))


_decode = msgspec.json.Decoder(WorkRequest).decode
_encode = msgspec.json.Encoder().encode


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        try:
            body = _decode(await request.body())
        except msgspec.DecodeError:  # ValidationError is a DecodeError
            return Response(b'{"error": "bad request"}', HTTPStatus.BAD_REQUEST, media_type=JSON)
        return Response(_encode(work(body)), media_type=JSON)

    return Starlette(routes=[Route("/work", endpoint, methods=["POST"])])


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The same endpoint with no framework at all."""
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    status, body = HTTPStatus.OK, b""
    if scope["path"] != "/work" or scope["method"] != "POST":
        status = HTTPStatus.NOT_FOUND
    else:
        try:
            body = _encode(work(_decode(b"".join(chunks))))
        except msgspec.DecodeError:
            status = HTTPStatus.BAD_REQUEST
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", JSON.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _serve(kind: str, http: str) -> None:
    import uvicorn

    app = starlette_app() if kind == "starlette" else asgi_app
    # Plain uvicorn, as a team would run a bare app: genweave's HttpServer adds its limits on
    # slow and hostile clients (gateway/protocol.py and the Api's layers), and their cost is
    # part of what this floor measures.
    config = uvicorn.Config(app, http=http, lifespan="off", access_log=False, log_config=None,
                            server_header=False)
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(2048)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    print(sock.getsockname()[1], flush=True)
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()  # EOF: the bench is done or gone
    server.should_exit = True
    await task


@dataclass(frozen=True, slots=True)
class Floor:
    """A running floor server: where it listens and which process it is."""

    url: str
    pid: int


@contextlib.asynccontextmanager
async def floor_server(kind: str, http: str = "auto") -> AsyncIterator[Floor]:
    """Run a floor server in a child process for the duration of the block."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), kind, "--http", http,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        if not line:
            raise RuntimeError(f"the {kind} floor server exited before listening")
        yield Floor(f"http://{HOST}:{int(line)}", process.pid)
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=FLOORS)
    parser.add_argument("--http", default="auto", choices=("auto", "h11", "httptools"))
    args = parser.parse_args()
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(args.kind, args.http))


if __name__ == "__main__":
    main()
