"""An app's CA and its identities' certificates, and mutual TLS refusing every wrong caller.

A callee of app ``bank`` serves ``Vault`` over TCP with mutual TLS and the
app's grants (only ``teller`` declares a Ref to ``Vault``).  Callers: the
teller (served), no certificate, a certificate from another CA, another app's
certificate, a certificate claiming another group, and a group with no Ref (each refused, clearly).
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bank_app import APP, TOPOLOGY, Vault
from cryptography import x509

from genweave import PermissionDenied, Unavailable
from genweave.component import spec_of
from genweave.deploy.certs import CertificateError, create_ca, issue
from genweave.runtime.authorization import granted_calls
from genweave.runtime.callee import Callee
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect, listen
from genweave.transport.tls import TlsFiles, client_context, server_context


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs") / "bank"
    create_ca("bank", directory)
    for group in ("teller", "vault", "lobby"):
        issue("bank", group, directory, hosts=("127.0.0.1", "vault.local"))
    return directory


def test_a_certificate_names_the_app_and_group_in_its_san_and_its_key_is_private(
        certs: Path) -> None:
    certificate = x509.load_pem_x509_certificate((certs / "teller.pem").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://genweave/bank/teller"]
    assert names.get_values_for_type(x509.DNSName) == ["vault.local"]
    assert stat.S_IMODE((certs / "teller-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((certs / "ca-key.pem").stat().st_mode) == 0o600


def test_a_ca_is_never_overwritten_nor_used_for_another_app(certs: Path) -> None:
    with pytest.raises(CertificateError, match="already there"):
        create_ca("bank", certs)
    with pytest.raises(CertificateError, match="not app 'shop''s"):
        issue("shop", "api", certs)


def test_issuing_without_a_ca_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="genweave certs init bank"):
        issue("bank", "teller", tmp_path)


@pytest.fixture
async def vault(certs: Path) -> AsyncIterator[str]:
    callee = Callee("bank", "vault/0", {"Vault": (Vault(), spec_of(Vault))})
    callee.enforce(granted_calls(APP, TOPOLOGY))
    tls = server_context(TlsFiles.in_directory(certs, "vault"))
    server, address = await listen("tcp:127.0.0.1:0", callee, tls)
    assert server is not None
    yield address
    server.close()
    await server.wait_closed()


async def secret(address: str, caller: str, tls: ssl.SSLContext | None) -> str:
    connection = await connect(address, lambda: ClientConnection("bank", caller, tls=tls),
                               timeout=5.0)
    try:
        spec = spec_of(Vault).methods["secret"]
        result: str = await connection.call(spec, spec.args_type(), {}, 5.0, "")
        return result
    finally:
        connection.close()


def context(certs: Path, identity: str) -> ssl.SSLContext:
    return client_context(TlsFiles.in_directory(certs, identity))


async def test_the_group_with_the_ref_is_served_over_mutual_tls(vault: str, certs: Path) -> None:
    assert await secret(vault, "teller/0", context(certs, "teller")) == "42"


async def test_a_caller_without_tls_or_certificate_is_refused(vault: str, certs: Path) -> None:
    with pytest.raises(Unavailable, match="closed during handshake"):
        await secret(vault, "teller/0", None)
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.check_hostname = False
    bare.load_verify_locations(cafile=str(certs / "ca.pem"))
    with pytest.raises(Unavailable, match="a certificate from the app's CA"):
        await secret(vault, "teller/0", bare)


async def test_a_certificate_from_another_ca_is_refused(vault: str, tmp_path: Path) -> None:
    create_ca("bank", tmp_path)
    issue("bank", "teller", tmp_path)
    with pytest.raises(Unavailable, match="certificate verify failed"):
        await secret(vault, "teller/0", context(tmp_path, "teller"))


async def test_another_apps_certificate_is_refused(vault: str, tmp_path: Path) -> None:
    # Each app has its own CA (a CA names its app and issues for it alone), so another
    # app's certificate fails the CA check; were a CA shared, the SAN check would refuse
    # it (runtime/test_authorization: a certificate of another app).
    create_ca("shop", tmp_path)
    issue("shop", "teller", tmp_path)
    with pytest.raises(Unavailable, match="certificate verify failed"):
        await secret(vault, "teller/0", context(tmp_path, "teller"))


async def test_a_group_without_a_ref_is_refused_by_the_graph(vault: str, certs: Path) -> None:
    with pytest.raises(PermissionDenied, match="caller 'lobby' may not call it"):
        await secret(vault, "lobby/0", context(certs, "lobby"))


async def test_a_certificate_cannot_claim_another_group(vault: str, certs: Path) -> None:
    with pytest.raises(PermissionDenied, match="says it is 'teller/0' but its certificate"):
        await secret(vault, "teller/0", context(certs, "lobby"))


async def test_the_caller_refuses_a_callee_whose_certificate_names_another_group(
        certs: Path) -> None:
    callee = Callee("bank", "vault/0", {"Vault": (Vault(), spec_of(Vault))})
    impostor = server_context(TlsFiles.in_directory(certs, "lobby"))
    server, address = await listen("tcp:127.0.0.1:0", callee, impostor)
    assert server is not None
    try:
        with pytest.raises(PermissionDenied, match="callee says it is 'vault/0'"):
            await secret(address, "teller/0", context(certs, "teller"))
    finally:
        server.close()
        await server.wait_closed()
