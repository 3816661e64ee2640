"""An app's certificate authority and its identities' certificates, for mutual TLS.

``genweave certs init`` creates the app's CA in a directory; ``genweave certs
issue GROUP`` issues a group's certificate there.  The local deployer does the
same by itself, with a CA of its own per deployment, when its transport is TCP.  Each
certificate's subject alternative name is ``spiffe://genweave/APP/IDENTITY``:
the identity a callee checks calls against (``genweave.runtime.authorization``).

Keys are ECDSA P-256 (the cheapest handshakes), written mode 0600.  The files
(``ca.pem``, ``ca-key.pem``, ``GROUP.pem``, ``GROUP-key.pem``) are what
``transport.tls.TlsFiles.in_directory`` reads.

Example::

    create_ca("hello", Path("certs"))
    issue("hello", "frontend", Path("certs"))
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from genweave.errors import GenweaveError
from genweave.transport.tls import TlsFiles, identity_uri

__all__ = [
    "CA_DAYS",
    "LEAF_DAYS",
    "CertificateError",
    "create_ca",
    "issue",
    "local_certificates",
]

CA_DAYS: Final = 3650
LEAF_DAYS: Final = 90
_CA: Final = "ca"
_BACKDATE: Final = datetime.timedelta(minutes=5)
"""Clocks of two machines differ a little: a certificate is valid from a bit before now."""


class CertificateError(GenweaveError):
    """A certificate authority or certificate could not be created or read."""


def create_ca(app: str, directory: Path, days: float = CA_DAYS) -> Path:
    """Create ``app``'s CA in ``directory`` (``ca.pem``, ``ca-key.pem``); never overwrite one."""
    certificate_path = directory / f"{_CA}.pem"
    if certificate_path.exists():
        raise CertificateError(f"{certificate_path} exists: {app}'s CA is already there (remove "
                               "it to start over; every certificate it issued stops working)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"genweave {app} CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(_uris(identity_uri(app, "")), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory, _CA, certificate, key)
    return certificate_path


def issue(app: str, identity: str, directory: Path, days: float = LEAF_DAYS,
          hosts: Iterable[str] = ()) -> TlsFiles:
    """Issue ``identity``'s certificate (a group, or the control identity) from the CA in
    ``directory``; ``hosts`` adds DNS names or IP addresses beside the identity URI."""
    ca_certificate, ca_key = _load_ca(app, directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity_uri(app, identity))]
    names.extend(_host_name(host) for host in hosts)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    f"{app}/{identity}")]))
        .issuer_name(ca_certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + datetime.timedelta(days=days),
                             ca_certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory, identity, certificate, key)
    return TlsFiles.in_directory(directory, identity)


def local_certificates(app: str, directory: Path, identities: Iterable[str],
                       days: float) -> None:
    """A fresh CA in ``directory`` and a certificate for each identity, valid ``days``: what
    the local deployer makes when its transport is TCP."""
    create_ca(app, directory, days)
    for identity in identities:
        issue(app, identity, directory, days, hosts=("127.0.0.1",))


def _load_ca(app: str, directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        certificate = x509.load_pem_x509_certificate((directory / f"{_CA}.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / f"{_CA}-key.pem").read_bytes(),
                                                 password=None)
    except FileNotFoundError as exc:
        raise CertificateError(f"no CA in {directory} ({exc.filename} is missing); create one "
                               f"with 'genweave certs init {app} --dir {directory}'") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{directory / 'ca-key.pem'} is not a genweave CA key")
    expected = identity_uri(app, "")
    try:
        uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        found = uris.value.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        found = []
    if expected not in found:
        raise CertificateError(f"the CA in {directory} is {', '.join(found) or 'no app'}'s, "
                               f"not app '{app}''s ({expected})")
    return certificate, key


def _uris(*uris: str) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris])


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(directory: Path, name: str, certificate: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> None:
    """Write the key (0600) and the certificate, each replacing the old file at once, so a
    process starting during a rotation reads either the old pair or the new one."""
    key_bytes = key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    _replace(directory / f"{name}-key.pem", key_bytes, 0o600)
    _replace(directory / f"{name}.pem", certificate.public_bytes(serialization.Encoding.PEM),
             0o644)


def _replace(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
