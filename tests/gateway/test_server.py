"""The embedded HTTP server: it binds a free port, serves on the caller's event loop, shares
its port with other replicas, and stops by draining the requests in flight."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from conftest import eventually
from genweave.gateway.server import HttpServer


class Held:
    """``/held`` answers only once ``release`` is set; ``entered`` says one is waiting."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.loops: list[asyncio.AbstractEventLoop] = []

    def asgi(self) -> Starlette:
        async def held(request: Request) -> Response:
            self.entered.set()
            await self.release.wait()
            return PlainTextResponse("finished")

        async def hello(request: Request) -> Response:
            self.loops.append(asyncio.get_running_loop())
            return JSONResponse({"hello": request.query_params.get("name", "")})

        return Starlette(routes=[Route("/held", held), Route("/hello", hello)])


async def started(app: Held, host: str = "127.0.0.1", port: int = 0,
                  graceful_seconds: int = 5) -> HttpServer:
    server = HttpServer(app.asgi(), host, port, graceful_seconds=graceful_seconds)
    await server.start()
    return server


@pytest.fixture
async def server() -> AsyncIterator[tuple[HttpServer, Held]]:
    app = Held()
    running = await started(app)
    try:
        yield running, app
    finally:
        app.release.set()
        await running.stop()


async def test_port_zero_binds_a_free_port_and_url_names_it(
    server: tuple[HttpServer, Held],
) -> None:
    running, _ = server
    assert running.port > 0 and running.requested_port == 0
    assert running.url == f"http://127.0.0.1:{running.port}"


async def test_it_serves_on_the_callers_event_loop_without_naming_itself(
    server: tuple[HttpServer, Held],
) -> None:
    running, app = server
    async with httpx.AsyncClient(base_url=running.url) as client:
        response = await client.get("/hello", params={"name": "ada"})
    assert response.status_code == 200 and response.json() == {"hello": "ada"}
    assert app.loops == [asyncio.get_running_loop()]
    assert "server" not in response.headers


async def test_stop_finishes_the_requests_in_flight_and_refuses_new_connections() -> None:
    app = Held()
    running = await started(app)
    port = running.port
    async with httpx.AsyncClient(base_url=running.url) as client:
        request = asyncio.create_task(client.get("/held"))
        await asyncio.wait_for(app.entered.wait(), 5)
        stopping = asyncio.create_task(running.stop())
        await eventually(lambda: refused(port), what="the port refusing new connections")
        assert not stopping.done()  # still draining the held request
        app.release.set()
        response = await asyncio.wait_for(request, 5)
        await asyncio.wait_for(stopping, 5)
    assert response.status_code == 200 and response.text == "finished"


async def test_stop_does_not_wait_for_idle_keep_alive_connections() -> None:
    app = Held()
    running = await started(app, graceful_seconds=30)
    async with httpx.AsyncClient(base_url=running.url) as client:
        assert (await client.get("/hello")).status_code == 200  # the connection stays open
        began = time.monotonic()
        await asyncio.wait_for(running.stop(), 5)
    assert time.monotonic() - began < 5


async def test_a_request_still_running_after_the_grace_period_is_cut_off() -> None:
    app = Held()
    running = await started(app, graceful_seconds=1)
    async with httpx.AsyncClient(base_url=running.url) as client:
        request = asyncio.create_task(client.get("/held"))
        await asyncio.wait_for(app.entered.wait(), 5)
        began = time.monotonic()
        await asyncio.wait_for(running.stop(), 10)
        response = await asyncio.wait_for(request, 5)
    assert 1.0 <= time.monotonic() - began < 5
    assert response.status_code == 500


async def test_replicas_share_one_port_and_one_stopping_leaves_the_other_serving() -> None:
    first_app, second_app = Held(), Held()
    first = await started(first_app)
    second = await started(second_app, port=first.port)
    try:
        assert second.port == first.port
        await first.stop()
        async with httpx.AsyncClient(base_url=second.url) as client:
            assert (await client.get("/hello", params={"name": "b"})).json() == {"hello": "b"}
        assert len(second_app.loops) == 1
    finally:
        await second.stop()


async def test_a_port_held_by_another_program_is_named_in_the_error() -> None:
    other = socket.socket()
    try:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError) as caught:
            await started(Held(), port=port)
    finally:
        other.close()
    assert caught.value.errno == errno.EADDRINUSE
    assert str(caught.value) == (f"[Errno {errno.EADDRINUSE}] gateway cannot listen on "
                                 f"127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}")


async def test_an_address_this_machine_does_not_have_is_named_in_the_error() -> None:
    with pytest.raises(OSError, match=r"gateway cannot listen on 192\.0\.2\.1:8000: ") as caught:
        await started(Held(), host="192.0.2.1", port=8000)  # TEST-NET-1: never local
    assert caught.value.errno == errno.EADDRNOTAVAIL


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_an_ipv6_server_has_a_url_clients_can_use() -> None:
    if not ipv6_loopback():
        if os.environ.get("CI"):
            pytest.fail("CI: this machine has no IPv6 loopback (::1)")
        pytest.skip("this machine has no IPv6 loopback (::1)")
    app = Held()
    running = await started(app, host="::1")
    try:
        assert running.url == f"http://[::1]:{running.port}"
        async with httpx.AsyncClient(base_url=running.url) as client:
            assert (await client.get("/hello")).status_code == 200
    finally:
        await running.stop()


def refused(port: int) -> bool:
    """Whether a new connection to ``port`` on 127.0.0.1 is refused now."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
