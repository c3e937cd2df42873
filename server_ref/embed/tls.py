"""Client TLS as etcd 3.5.1 serves it: which URLs are secure, and the gRPC credentials.

What etcd does, probed on 3.5.1 (docs/server_ref.md, "TLS"):

- an ``https://`` (or ``unixs://``) client URL without ``--cert-file`` and ``--key-file``
  stops the member before it listens; ``http://`` URLs ignore the TLS flags;
- ``--trusted-ca-file`` alone already *requires* a client certificate signed by that CA
  (etcd's ``TLSInfo.ServerConfig``: trusted CA or client-cert-auth means
  ``RequireAndVerifyClientCert``); ``--client-cert-auth`` without a CA file verifies
  against the system's roots; neither: no client certificate is asked for;
- a CA file with no certificate in it trusts no client; a missing or unreadable file,
  a file without PEM data or a key that does not match its certificate stop the member
  with Go's error text.

One difference is gRPC's, not ours: etcd caps TLS at 1.2, grpcio offers no way to, so
server_ref speaks TLS 1.3. A client without a certificate is refused either way, but
under 1.3 it learns so after its side of the handshake, as a closed socket rather than
a handshake alert.
"""

from __future__ import annotations

import errno
import logging
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger("etcd3py.server_ref")
SECURE_SCHEMES = ("https", "unixs")

# A CA whose key was thrown away when it was made: a trust store that verifies no client,
# for etcd's empty certificate pool (gRPC wants some root to require client certificates).
TRUSTS_NO_CLIENT = b"""-----BEGIN CERTIFICATE-----
MIIBZDCCAQugAwIBAgIBATAKBggqhkjOPQQDAjAvMS0wKwYDVQQDDCRldGNkM3B5
IHNlcnZlcl9yZWY6IHRydXN0cyBubyBjbGllbnQwIBcNMjYwMTAxMDAwMDAwWhgP
MjEyNTEyMDgwMDAwMDBaMC8xLTArBgNVBAMMJGV0Y2QzcHkgc2VydmVyX3JlZjog
dHJ1c3RzIG5vIGNsaWVudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA7OsVL+
msGwoa9S6nEjATsbn6VWZfH4Qv3HXC65B53K+lbfa9EecvK9+3e6gWw+roCVkXDJ
Itjy44fvaGll4oWjFjAUMBIGA1UdEwEB/wQIMAYBAf8CAQAwCgYIKoZIzj0EAwID
RwAwRAIgUS8ytfGUqic9luxbBFL0YxdGN2lVFmPIncWypzCPubgCIG1hCLbpOuvy
gw+Tnt9MMGHJDfnLy83IVxgV4Nc2l7Tq
-----END CERTIFICATE-----
"""


class TlsSetupError(Exception):
    """The member cannot serve TLS as configured; the message is etcd's for the case."""


def is_secure(url: str) -> bool:
    return url.split("://", 1)[0] in SECURE_SCHEMES if "://" in url else False


@dataclass(frozen=True)
class ClientTls:
    """The client-facing TLS settings (etcd's ``ClientTLSInfo``), file paths as given."""

    cert_file: str | None = None
    key_file: str | None = None
    trusted_ca_file: str | None = None
    client_cert_auth: bool = False

    def empty(self) -> bool:
        """etcd's ``TLSInfo.Empty``: neither a certificate nor a key was given."""
        return not self.cert_file and not self.key_file

    def requires_client_cert(self) -> bool:
        return bool(self.trusted_ca_file) or self.client_cert_auth

    def check_urls(self, urls: Sequence[str]) -> None:
        """Refuse a secure URL without certificate and key, as etcd does before listening."""
        for url in urls:
            if is_secure(url) and self.empty():
                raise TlsSetupError(
                    f"TLS key/cert (--cert-file, --key-file) must be provided for client url "
                    f"{url} with HTTPS scheme"
                )

    def ignored_on(self, urls: Sequence[str]) -> list[str]:
        """etcd's warnings for plain URLs, which serve without TLS whatever the flags say."""
        notes = []
        for url in urls:
            if is_secure(url):
                continue
            if not self.empty():
                notes.append(
                    "scheme is HTTP while key and cert files are present; ignoring key and "
                    f"cert files (client-url {url})"
                )
            if self.client_cert_auth:
                notes.append(
                    "scheme is HTTP while --client-cert-auth is enabled; ignoring client cert "
                    f"auth for this URL (client-url {url})"
                )
        return notes

    def server_credentials(self) -> grpc.ServerCredentials:
        """gRPC credentials for the secure URLs; files are read (and checked) now."""
        if not self.cert_file or not self.key_file:
            raise TlsSetupError(
                f"KeyFile and CertFile must both be present"
                f"[key: {self.key_file or ''}, cert: {self.cert_file or ''}]"
            )
        cert, key = _read(self.cert_file), _read(self.key_file)
        _check_pair(self.cert_file, cert, self.key_file, key)
        roots = self._client_roots()
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=roots, require_client_auth=roots is not None
        )

    def _client_roots(self) -> bytes | None:
        """The CAs client certificates must chain to; None: no certificate is asked for."""
        if not self.requires_client_cert():
            return None
        # no CA file: Go verifies against the system's roots
        pem = _read(self.trusted_ca_file) if self.trusted_ca_file else _system_roots()
        return pem if b"-----BEGIN CERTIFICATE-----" in pem else TRUSTS_NO_CLIENT


def auto_tls(tls: ClientTls, urls: Sequence[str], data_dir: str | None) -> ClientTls:
    """etcd's ``--auto-tls`` (``ClientSelfCert``): without certificate and key, serve a
    self-signed certificate for the listen hosts, kept in ``DATA_DIR/fixtures/client``
    and reused there (in memory: a fresh temporary folder). Like etcd, it replaces the
    whole client TLS setting: no client certificate is asked for, whatever the CA flags."""
    if not tls.empty():
        log.warning("ignoring client auto TLS since certs given")
        return tls
    from .certs import self_signed_certificate

    if data_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="etcd3py-auto-tls-"))
    else:
        folder = Path(data_dir) / "fixtures" / "client"
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not (cert.exists() and key.exists()):
        hosts = [_host(url) for url in urls]
        cert, key = self_signed_certificate(folder, [h for h in hosts if h])
    return ClientTls(str(cert.resolve()), str(key.resolve()))


def _host(url: str) -> str:
    """The host of a listen URL, as etcd puts it in the certificate (unix paths: none)."""
    if url.startswith(("unix://", "unixs://")):
        return ""
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    host = authority.rsplit(":", 1)[0] if ":" in authority else authority
    return host.strip("[]")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        # Go's *PathError text: "open PATH: no such file or directory"
        reason = (err.strerror or str(err)).lower()
        verb = "read" if err.errno == errno.EISDIR else "open"
        raise TlsSetupError(f"{verb} {path}: {reason}") from None


def _check_pair(cert_path: str, cert: bytes, key_path: str, key: bytes) -> None:
    """Go's ``tls.X509KeyPair`` checks, with its messages."""
    if b"-----BEGIN" not in cert:
        raise TlsSetupError("tls: failed to find any PEM data in certificate input")
    if b"-----BEGIN" not in key:
        raise TlsSetupError("tls: failed to find any PEM data in key input")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as err:
        if "KEY_VALUES_MISMATCH" in str(err):
            raise TlsSetupError("tls: private key does not match public key") from None
        raise TlsSetupError(f"tls: {err.reason or err}") from None


def _system_roots() -> bytes:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    return b""
