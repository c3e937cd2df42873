"""Dedicated members for the TLS and auth tests.

``TlsEtcdProcess`` (real etcd) and ``TlsRefProcess`` (server_ref's CLI) serve clients
over https only and ask them for a certificate signed by the test CA (``--cert-file
--key-file --trusted-ca-file --client-cert-auth``); etcd's peers stay on http. Their
readiness check speaks TLS, as the plain ``wait_until_serving`` cannot.

``TcpProxy`` forwards a loopback port to a member; ``cut()`` drops every connection
through it (both ends see a closed socket), so that the client must open its streams
again while the member keeps running.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from tests.support.certs import Certs
from tests.support.servers import START_TIMEOUT, EtcdProcess, RefProcess, wait_until_serving

# simple tokens expire after this many seconds without use (etcd checks every second)
AUTH_TOKEN_TTL = 2


def auth_member(
    kind: str,
    data_dir: Path,
    token_ttl: int = AUTH_TOKEN_TTL,
    *,
    certs: Certs | None = None,
    cn_auth: bool = True,
    bcrypt_cost: int | None = None,
    auth_token: str = "simple",
) -> EtcdProcess:
    """A member ("etcd", or "server_ref" run as a process) whose simple auth tokens
    expire after ``token_ttl`` idle seconds (``auth_token``: etcd's --auth-token); on
    https wanting client certificates when ``certs`` are given (``cn_auth``: with
    --client-cert-auth); bcrypt at ``bcrypt_cost`` when given (4 makes logins cheap)."""
    args = ["--auth-token", auth_token, "--auth-token-ttl", str(token_ttl)]
    if bcrypt_cost is not None:
        args += ["--bcrypt-cost", str(bcrypt_cost)]
    if certs is not None:
        return tls_process(kind, data_dir, certs, args, cn_auth=cn_auth)
    args.append("--unsafe-no-fsync")
    return (
        EtcdProcess(data_dir, extra_args=args)
        if kind == "etcd"
        else RefProcess(data_dir, extra_args=args)
    )


def write_jwt_keys(folder: Path, method: str) -> str:
    """Key files for ``method``; the --auth-token options naming them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    folder.mkdir(parents=True, exist_ok=True)
    if method.startswith("HS"):
        (folder / "secret").write_bytes(b"a shared secret of the cluster")
        return f"priv-key={folder / 'secret'}"
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if method.startswith("ES")
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / "priv.pem").write_bytes(private)
    (folder / "pub.pem").write_bytes(public)
    return f"pub-key={folder / 'pub.pem'},priv-key={folder / 'priv.pem'}"


def jwt_member(kind: str, folder: Path, options: str) -> EtcdProcess:
    """A member ("etcd" or "server_ref") issuing JWTs: ``--auth-token jwt,OPTIONS``."""
    return auth_member(kind, folder / "data", auth_token=f"jwt,{options}")


def tls_flags(certs: Certs, *, client_cert_auth: bool = True) -> list[str]:
    """etcd's flags for https wanting client certificates on the test certificates
    (--trusted-ca-file alone wants them too; --client-cert-auth also makes a
    certificate's CN the user of a call without a token)."""
    flags = [
        "--cert-file", str(certs.server_cert),
        "--key-file", str(certs.server_key),
        "--trusted-ca-file", str(certs.ca),
    ]  # fmt: skip
    return [*flags, "--client-cert-auth"] if client_cert_auth else flags


class ServesTls(EtcdProcess):
    """An https member: its URL, the client credentials it accepts, a readiness check
    over TLS. Made by ``tls_process``."""

    certs: Certs

    @property
    def client_url(self) -> str:
        return f"https://{self.endpoint}"

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.certs.ca.read_bytes(),
            private_key=self.certs.client_key.read_bytes(),
            certificate_chain=self.certs.client_cert.read_bytes(),
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll Status over TLS (with the client certificate) until the member answers."""
        try:
            wait_until_serving(self.endpoint, timeout, self.alive, self.credentials())
        except (RuntimeError, TimeoutError) as err:
            raise RuntimeError(
                f"member at {self.client_url} not serving TLS: {err}\n"
                f"--- log ---\n{self.log_tail()}"
            ) from None


class TlsEtcdProcess(ServesTls):
    """Real etcd 3.5.1 on https, wanting client certificates."""

    def __init__(
        self, data_dir: Path, certs: Certs, extra_args: Sequence[str] = (), *, cn_auth: bool = True
    ) -> None:
        tls = tls_flags(certs, client_cert_auth=cn_auth)
        super().__init__(data_dir, extra_args=["--unsafe-no-fsync", *tls, *extra_args])
        self.certs = certs


class TlsRefProcess(ServesTls, RefProcess):
    """server_ref's CLI with the same flags, on the same certificates."""

    def __init__(
        self, data_dir: Path, certs: Certs, extra_args: Sequence[str] = (), *, cn_auth: bool = True
    ) -> None:
        tls = tls_flags(certs, client_cert_auth=cn_auth)
        RefProcess.__init__(self, data_dir, extra_args=["--unsafe-no-fsync", *tls, *extra_args])
        self.certs = certs


def tls_process(
    kind: str, data_dir: Path, certs: Certs, extra_args: Sequence[str] = (), *, cn_auth: bool = True
) -> ServesTls:
    """An https member wanting client certificates: real etcd or server_ref; with
    ``cn_auth`` (--client-cert-auth) a certificate's CN names the user."""
    make = TlsEtcdProcess if kind == "etcd" else TlsRefProcess
    return make(data_dir, certs, extra_args, cn_auth=cn_auth)
