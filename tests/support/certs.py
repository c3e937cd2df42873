"""Throw-away TLS material for the tests: a CA, a server and a client certificate.

Generated with ``cryptography`` into a directory, as PEM files::

    certs = make_certs(tmp_path)
    certs.ca, certs.server_cert, certs.server_key, certs.client_cert, certs.client_key

The server certificate is valid for 127.0.0.1 and localhost. ``other_ca`` is a second
CA that signed nothing the server uses: trusting it alone must fail the handshake.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Certs:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: Key,
    issuer: x509.Name | None = None,
    issuer_key: Key | None = None,
    *,
    ca: bool = False,
    usage: list[x509.ObjectIdentifier] | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """A certificate for ``key``; self-signed when no issuer is given."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(item: x509.Certificate | Key) -> bytes:
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM)
    return item.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certs(directory: Path, client_name: str = "etcd3py-test") -> Certs:
    """Write a CA, a server and a client certificate (and their keys) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_key, server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(4)
    )
    ca = _certificate("etcd3py test CA", ca_key, ca=True)
    other_ca = _certificate("etcd3py untrusted CA", other_key, ca=True)
    server = _certificate(
        "localhost",
        server_key,
        ca.subject,
        ca_key,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client = _certificate(
        client_name, client_key, ca.subject, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    files: dict[str, x509.Certificate | Key] = {
        "ca.pem": ca,
        "other-ca.pem": other_ca,
        "server.pem": server,
        "server-key.pem": server_key,
        "client.pem": client,
        "client-key.pem": client_key,
    }
    for name, item in files.items():
        (directory / name).write_bytes(_pem(item))
    return Certs(*(directory / name for name in files))
