"""Throw-away TLS material: a CA, a server certificate and client certificates, as PEM files.

    files = make_certs(directory)              # ca, server_cert/key, client_cert/key
    cert, key = client_certificate(files, "alice", directory)   # another client, CN alice

For ``EmbeddedServer(tls=True)`` and tests; nothing here is fit to protect real data
(keys unencrypted, a day's validity). Needs ``cryptography``: the ``tls`` extra.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

try:  # the tls extra; every function starts with _require(), which names it when missing
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    _HAVE_CRYPTOGRAPHY = True
except ImportError:
    _HAVE_CRYPTOGRAPHY = False

VALIDITY = datetime.timedelta(days=1)
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_CLIENT_NAME = "etcd3py-client"


class MissingTlsExtraError(ImportError):
    """Certificates are made with ``cryptography``, which etcd3py installs only with the
    ``tls`` extra."""

    def __init__(self) -> None:
        super().__init__(
            "making TLS certificates needs the 'cryptography' package: pip install 'etcd3py[tls]'",
            name="cryptography",
        )


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files made by ``make_certs``."""

    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @property
    def client_options(self) -> dict[str, Path]:
        """``Client(url, **files.client_options)``: trust the CA, show the client certificate."""
        return {"ca_cert": self.ca, "cert_cert": self.client_cert, "cert_key": self.client_key}


def _require() -> None:
    if not _HAVE_CRYPTOGRAPHY:
        raise MissingTlsExtraError()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _sign(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool = False,
    usage: Sequence[x509.ObjectIdentifier] = (),
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    """A certificate for ``key``, signed by ``issuer`` (self-signed without one)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks a little behind
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
    if hosts:
        names = [_general_name(host) for host in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, item: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    if isinstance(item, x509.Certificate):
        path.write_bytes(item.public_bytes(serialization.Encoding.PEM))
    else:
        data = item.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(data)
        path.chmod(0o600)
    return path


def make_ca(directory: str | Path, common_name: str, stem: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA written to ``directory``: (certificate, key) paths."""
    _require()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    cert = _sign(common_name, key, ca=True)
    return _write(directory / f"{stem}.pem", cert), _write(directory / f"{stem}-key.pem", key)


def make_certs(
    directory: str | Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    client_name: str = DEFAULT_CLIENT_NAME,
) -> TlsFiles:
    """A CA, a server certificate for ``hosts`` and a client certificate with Common Name
    ``client_name`` (etcd's user, when auth is on), written to ``directory``."""
    directory = Path(directory)
    ca = make_ca(directory, "etcd3py throw-away CA")
    server_usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    server = _issue(ca, directory / "server", "localhost", server_usage, hosts)
    client = _issue(ca, directory / "client", client_name, [ExtendedKeyUsageOID.CLIENT_AUTH])
    return TlsFiles(*ca, *server, *client)


def client_certificate(
    files: TlsFiles, common_name: str, directory: str | Path | None = None
) -> tuple[Path, Path]:
    """Another client certificate from ``files``' CA, with Common Name ``common_name``:
    (certificate, key) paths, in ``directory`` (default: beside the CA)."""
    _require()
    where = Path(directory) if directory is not None else files.ca.parent
    where.mkdir(parents=True, exist_ok=True)
    stem = "client-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in common_name)
    usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
    return _issue((files.ca, files.ca_key), where / stem, common_name, usage)


def _issue(
    ca: tuple[Path, Path],
    stem: Path,
    common_name: str,
    usage: Sequence[x509.ObjectIdentifier],
    hosts: Sequence[str] = (),
) -> tuple[Path, Path]:
    """A certificate signed by the CA in files ``ca``: ``stem``.pem and ``stem``-key.pem."""
    ca_key = serialization.load_pem_private_key(ca[1].read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca[1]}: not an EC private key (made by make_ca?)")
    issuer = (x509.load_pem_x509_certificate(ca[0].read_bytes()), ca_key)
    key = _new_key()
    cert = _sign(common_name, key, issuer, usage=usage, hosts=hosts)
    return (
        _write(stem.with_name(stem.name + ".pem"), cert),
        _write(stem.with_name(stem.name + "-key.pem"), key),
    )


def self_signed_certificate(
    directory: str | Path, hosts: Sequence[str], years: int = 1
) -> tuple[Path, Path]:
    """etcd's ``--auto-tls`` certificate: ``cert.pem`` and ``key.pem`` in ``directory``,
    made as etcd 3.5.1 makes them (probed): Organization "etcd", serving ``hosts`` (IPs
    and names, ports dropped), not a CA, valid ``years`` years -- but on a P-256 key where
    etcd takes P-521: gRPC's TLS 1.3 (BoringSSL) signs no handshake with P-521, etcd's
    TLS 1.2 does (probed: a P-521 certificate fails every handshake on server_ref)."""
    _require()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "etcd")])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=True,
        key_encipherment=True,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1 or 1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365 * years))
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if hosts:
        names = [_general_name(host) for host in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    _write(cert_path, builder.sign(key, hashes.SHA256()))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # "EC PRIVATE KEY", as Go writes
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
