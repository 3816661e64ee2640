"""The local deployer over TCP: mutual TLS with certificates it makes, and the Ref graph enforced.

Under the process placement, with ``sample_app`` split into groups ``front``
and ``model`` (``Front`` declares a Ref to ``Model``): the deployer's calls and
``front``'s calls are served; a caller without TLS, one with a certificate
from another CA, and one with the certificate of a group with no Ref to the
target are refused, each with a clear error; a rollout rotates a group's
certificate under load without a failed call.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
from cryptography import x509
from sample_app import Front, Model, app

from conftest import Load
from genweave import PermissionDenied, Unavailable, deployment
from genweave.component import spec_of
from genweave.deploy.certs import create_ca, issue
from genweave.deploy.local import LocalDeployer
from genweave.deploy.rundir import TLS_DIRECTORY
from genweave.topology import preset
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect
from genweave.transport.messages import PROTOCOL_VERSION, Hello
from genweave.transport.tls import TlsFiles, client_context

pytestmark = [pytest.mark.process, pytest.mark.slow]


@pytest_asyncio.fixture
async def running() -> AsyncIterator[LocalDeployer]:
    topology = msgspec.structs.replace(preset("microservices", app), transport="tcp")
    async with deployment("sample_app:app", topology, "process", log=lambda line: None) as d:
        assert isinstance(d, LocalDeployer)
        yield d


def address_of(running: LocalDeployer, group: str) -> str:
    return running.membership.snapshot().groups[group][0]


async def call_model(address: str, caller: str, tls: ssl.SSLContext) -> int:
    connection = await connect(address, lambda: ClientConnection(app.name, caller, tls=tls))
    try:
        spec = spec_of(Model).methods["add"]
        result: int = await connection.call(spec, spec.args_type(2, 3), {}, 5.0, "")
        return result
    finally:
        connection.close()


def certificate(directory: Path, identity: str) -> ssl.SSLContext:
    return client_context(TlsFiles.in_directory(directory, identity))


async def test_calls_between_groups_and_from_the_deployer_are_mutual_tls(
        running: LocalDeployer) -> None:
    assert (running.rundir / TLS_DIRECTORY / "front.pem").exists()
    assert await running.get(Front).total([1, 2, 3]) == 6
    assert await running.get(Model).add(1, 2) == 3
    tls = certificate(running.rundir / TLS_DIRECTORY, "front")
    assert await call_model(address_of(running, "model"), "front/9", tls) == 5


async def test_a_caller_without_tls_gets_no_answer(running: LocalDeployer) -> None:
    host, _, port = address_of(running, "model").removeprefix("tcp:").rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        hello = msgspec.msgpack.encode(Hello(PROTOCOL_VERSION, app.name, "front/0"))
        writer.write(len(hello).to_bytes(4, "big") + hello)
        assert await reader.read() == b""  # the TLS server closes it: no Welcome
    finally:
        writer.close()


async def test_a_certificate_from_another_ca_is_refused(running: LocalDeployer,
                                                        tmp_path: Path) -> None:
    create_ca(app.name, tmp_path)
    issue(app.name, "front", tmp_path)
    with pytest.raises(Unavailable, match="certificate verify failed"):
        await call_model(address_of(running, "model"), "front/0", certificate(tmp_path, "front"))


async def test_a_group_with_no_ref_to_the_target_is_refused(running: LocalDeployer) -> None:
    tls = certificate(running.rundir / TLS_DIRECTORY, "model")  # Model has no Ref to Front
    connection = await connect(address_of(running, "front"),
                               lambda: ClientConnection(app.name, "model/0", tls=tls))
    try:
        spec = spec_of(Front).methods["total"]
        with pytest.raises(PermissionDenied, match="caller 'model' may not call it"):
            await connection.call(spec, spec.args_type([1]), {}, 5.0, "")
    finally:
        connection.close()


async def test_a_rollout_rotates_the_groups_certificate_without_a_failed_call(
        running: LocalDeployer) -> None:
    certificate_file = running.rundir / TLS_DIRECTORY / "model.pem"
    before = x509.load_pem_x509_certificate(certificate_file.read_bytes()).serial_number
    front = running.get(Front)
    load = Load(lambda: front.total([1, 2, 3]), callers=8)
    try:
        await load.progress(50)
        await running.rollout("model")
        await load.progress(50)
    finally:
        await load.stop()
    assert not load.failures, load.failures[:3]
    after = x509.load_pem_x509_certificate(certificate_file.read_bytes()).serial_number
    assert after != before
    tls = certificate(running.rundir / TLS_DIRECTORY, "front")
    assert await call_model(address_of(running, "model"), "front/9", tls) == 5
