"""The route layer: validation, size limits, errors in OpenAI's shape, OpenAPI, SSE."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from conftest import eventually
from genweave.context import call_metadata
from genweave.errors import CircuitOpen, ComponentError, DeadlineExceeded, Overloaded, Unavailable
from genweave.gateway.api import Api, ApiCall, sse
from genweave.gateway.auth import ApiKey, KeyRing
from genweave.gateway.limits import HttpLimits
from genweave.gateway.server import HttpServer


class EchoRequest(msgspec.Struct):
    text: str
    times: int = 1


class EchoResponse(msgspec.Struct):
    text: str


class WhoRequest(msgspec.Struct):
    user: str = ""


def make_api(max_concurrent: int = 1024, gate: asyncio.Event | None = None,
             limits: HttpLimits | None = None) -> Api:
    """The test routes; ``/who`` holds its requests until ``gate`` is set, if one is given."""
    api = Api("test", keys=KeyRing([ApiKey(name="t", key="sk-t")]), max_body_bytes=1024,
              timeout=0.5, max_concurrent=max_concurrent, limits=limits)

    @api.post("/who", body=WhoRequest)
    async def who(call: ApiCall, body: WhoRequest) -> dict[str, str]:
        if gate is not None:
            await gate.wait()
        return dict(call_metadata())

    @api.post("/echo", body=EchoRequest, response=EchoResponse)
    async def echo(call: ApiCall, body: EchoRequest) -> EchoResponse:
        if body.text == "down":
            raise Unavailable("no ready replica", component="Model", method="run")
        if body.text == "slow":
            await asyncio.sleep(5)
        if body.text == "late":
            raise DeadlineExceeded("too slow", component="Model", method="run")
        if body.text == "bug":
            raise ComponentError("boom", component="Model", method="run",
                                 remote_type="builtins.RuntimeError")
        if body.text == "crash":
            raise RuntimeError("unexpected")
        if body.text == "busy":
            raise Overloaded("at its limit", component="Model", method="run")
        if body.text == "tripped":
            raise CircuitOpen("circuit open", component="Model", method="run")
        return EchoResponse(body.text * body.times)

    @api.post("/stream", body=EchoRequest, stream=EchoResponse)
    async def stream(call: ApiCall, body: EchoRequest) -> object:
        async def events() -> AsyncIterator[bytes]:
            for i in range(body.times):
                if body.text == "break" and i == 1:
                    raise Unavailable("gone", component="Model", method="run")
                yield msgspec.json.encode(EchoResponse(f"{body.text}{i}"))

        return await sse(events(), call.timeout)

    return api


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_api().asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers={"Authorization": "Bearer sk-t"}) as c:
        yield c


async def test_a_valid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"text": "ab", "times": 2})
    assert response.status_code == 200 and response.json() == {"text": "abab"}


@pytest.mark.parametrize(("kwargs", "status", "param", "fragment"), [
    ({"content": b"{not json"}, 400, None, "not valid JSON"),
    ({"json": {"times": 2}}, 400, "text", "missing required field"),
    ({"json": {"text": "a", "times": "two"}}, 400, "times", "Expected `int`, got `str`"),
    ({"content": b"x" * 2048}, 413, None, "larger than the 1024-byte limit"),
    ({"json": {"text": "down"}}, 503, None, "Model is unavailable"),
    ({"json": {"text": "slow"}}, 504, None, "did not answer in time"),
    ({"json": {"text": "late"}}, 504, None, "Model did not answer in time"),
    ({"json": {"text": "bug"}}, 500, None, "Model.run failed"),
    ({"json": {"text": "crash"}}, 500, None, "internal error"),
    ({"json": {"text": "busy"}}, 503, None, "Model is overloaded"),
    ({"json": {"text": "tripped"}}, 503, None, "Model is unavailable: circuit open"),
])
async def test_errors_have_openai_shape_and_status(
    client: httpx.AsyncClient, kwargs: dict[str, object], status: int, param: str | None,
    fragment: str,
) -> None:
    response = await client.post("/echo", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and fragment in error["message"]
    assert "Traceback" not in response.text


async def test_overload_answers_503_with_retry_after_at_once() -> None:
    gate = asyncio.Event()
    api = make_api(max_concurrent=2, gate=gate)
    transport = httpx.ASGITransport(app=api.asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers={"Authorization": "Bearer sk-t"}) as c:
        calls = [asyncio.create_task(c.post("/who", json={})) for _ in range(5)]
        # Two are held at the gate; the other three are refused without waiting for them.
        await eventually(lambda: sum(call.done() for call in calls) == 3,
                         what="three requests refused")
        assert api.in_flight == 2
        gate.set()
        responses = await asyncio.gather(*calls)
        busy = await c.post("/echo", json={"text": "busy"})
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 503, 503, 503]
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "overloaded"


async def test_calls_carry_the_key_name_and_user_never_the_secret(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/who", json={})).json() == {"api_key": "t"}
    assert (await client.post("/who", json={"user": "ada"})).json() == {"api_key": "t",
                                                                        "user": "ada"}


async def test_a_client_that_leaves_cancels_a_long_request() -> None:
    api = Api("test", keys=KeyRing([]))
    started, cancelled = asyncio.Event(), asyncio.Event()

    @api.post("/think", body=EchoRequest, response=EchoResponse, stream=EchoResponse)
    async def think(call: ApiCall, body: EchoRequest) -> EchoResponse:
        started.set()
        try:
            await asyncio.Event().wait()  # thinks until cancelled
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return EchoResponse(body.text)

    server = HttpServer(api.asgi(), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as c:
            request = asyncio.create_task(c.post("/think", json={"text": "hm"}))
            async with asyncio.timeout(5):
                await started.wait()  # the handler runs: its body has been read
            request.cancel()  # the client gives up and closes its connection
        async with asyncio.timeout(2):
            await cancelled.wait()
    finally:
        await server.stop()


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    wrong = await client.get("/echo")
    assert wrong.status_code == 405 and "error" in wrong.json()


async def test_auth_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=b"{bad", headers={"Authorization": "x"})
    assert response.status_code == 401


async def test_sse_stream_ends_with_done_and_reports_late_errors(
    client: httpx.AsyncClient,
) -> None:
    ok = await client.post("/stream", json={"text": "t", "times": 3})
    assert ok.headers["content-type"].startswith("text/event-stream")
    assert ok.text.split("\n\n")[:-1] == [
        'data: {"text":"t0"}', 'data: {"text":"t1"}', 'data: {"text":"t2"}', "data: [DONE]"]
    broken = await client.post("/stream", json={"text": "break", "times": 3})
    events = broken.text.split("\n\n")
    assert events[0] == 'data: {"text":"break0"}'
    assert '"type":"service_unavailable_error"' in events[1] and events[2] == "data: [DONE]"


async def test_openapi_document_describes_every_route(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    echo = document["paths"]["/echo"]["post"]
    assert echo["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EchoRequest"}
    assert "text/event-stream" in document["paths"]["/stream"]["post"]["responses"]["200"][
        "content"]
    assert document["components"]["schemas"]["EchoRequest"]["required"] == ["text"]


async def connected(port: int, first_bytes: bytes) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, first_bytes)
    return sock


async def until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    loop, received = asyncio.get_running_loop(), b""
    async with asyncio.timeout(timeout):
        while chunk := await loop.sock_recv(sock, 65536):
            received += chunk
    return received


async def test_slow_senders_never_take_the_slots_of_requests_ready_to_run() -> None:
    """Issue 18's attack, scaled down: more bodies that never finish than there are slots."""
    limits = HttpLimits(body_timeout=1.0)
    api = make_api(max_concurrent=2, limits=limits)
    server = HttpServer(api.asgi(), "127.0.0.1", 0, limits=limits)
    await server.start()
    slow: list[socket.socket] = []
    try:
        for _ in range(6):
            slow.append(await connected(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                                        b"Authorization: Bearer sk-t\r\n"
                                        b"Content-Length: 1000\r\n\r\n{"))
        began = time.monotonic()
        await eventually(lambda: server.connections.total == 6, what="six slow senders in")
        async with httpx.AsyncClient(base_url=server.url,
                                     headers={"Authorization": "Bearer sk-t"}) as c:
            ready = await asyncio.gather(*(c.post("/echo", json={"text": "hi"}) for _ in range(2)))
        assert [r.status_code for r in ready] == [200, 200]
        assert api.in_flight == 0
        answers = await asyncio.gather(*(until_closed(sock) for sock in slow))
        assert time.monotonic() - began < limits.body_timeout + 2.0
    finally:
        for sock in slow:
            sock.close()
        await server.stop()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)


async def test_probes_answer_while_a_client_holds_its_every_connection() -> None:
    limits = HttpLimits(max_connections_per_client=2)
    api = make_api(limits=limits)
    api.get("/healthz", auth=False, exempt=True)(healthz)
    server = HttpServer(api.asgi(), "127.0.0.1", 0, limits=limits)
    await server.start()
    held = [await connected(server.port, b"") for _ in range(2)]
    try:
        await eventually(lambda: server.connections.total == 2, what="two connections held")
        probe = await connected(server.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        refused = await connected(server.port, b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n"
                                                b"Authorization: Bearer sk-t\r\n\r\n{}")
        with probe, refused:
            probed, answer = await until_closed(probe), await until_closed(refused)
    finally:
        for sock in held:
            sock.close()
        await server.stop()
    assert probed.startswith(b"HTTP/1.1 200 ")
    assert answer.startswith(b"HTTP/1.1 429 ") and b"too_many_connections" in answer


async def healthz(call: ApiCall, body: None) -> dict[str, str]:
    return {"status": "ok"}
