"""Dedicated servers for the TLS and auth tests: auth state and transport are server-wide.

``TlsEtcdProcess`` (and ``TlsRefProcess``, server_ref run the same way) serves clients
over https only and asks them for a certificate signed by the test CA
(``--client-cert-auth``); peers stay on http. Its readiness check speaks TLS, as the
plain ``wait_until_serving`` of ``EtcdProcess`` cannot.

``auth_server`` starts a fresh server of either kind with the auth flags of the oracle
tests; ``AUTH_BACKENDS`` names the kinds those tests compare.

``TcpProxy`` forwards a loopback port to a member; ``cut()`` drops every connection
through it (both ends see a closed socket), so that the client must open its streams
again while the member keeps running.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from tests.support.certs import Certs
from tests.support.servers import START_TIMEOUT, EtcdProcess, RefProcess

# simple tokens expire after this many seconds without use (etcd checks every second)
AUTH_TOKEN_TTL = 2


def auth_etcd(data_dir: Path) -> EtcdProcess:
    """A member whose simple auth tokens expire after AUTH_TOKEN_TTL idle seconds."""
    args = ["--unsafe-no-fsync", "--auth-token", "simple", "--auth-token-ttl", str(AUTH_TOKEN_TTL)]
    return EtcdProcess(data_dir, extra_args=args)


# Both kinds, compared with each other. ETCD3PY_AUTH_BACKENDS=etcd narrows it for a local
# run while server_ref has no auth; never narrowed in CI.
AUTH_BACKENDS = os.environ.get("ETCD3PY_AUTH_BACKENDS", "etcd,server_ref").split(",")
# simple tokens; bcrypt at its lowest cost, so that each Authenticate is cheap
AUTH_FLAGS = ["--auth-token", "simple", "--bcrypt-cost", "4"]
TLS_FLAG_NAMES = ("--cert-file", "--key-file", "--trusted-ca-file", "--client-cert-auth")


class TlsEtcdProcess(EtcdProcess):
    def __init__(self, data_dir: Path, certs: Certs, extra_args: Sequence[str] = ()) -> None:
        super().__init__(
            data_dir,
            extra_args=[
                "--unsafe-no-fsync",
                "--cert-file", str(certs.server_cert),
                "--key-file", str(certs.server_key),
                "--trusted-ca-file", str(certs.ca),
                "--client-cert-auth",
                *extra_args,
            ],
        )  # fmt: skip
        self.certs = certs

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
        """Poll Status over TLS (with the client certificate) until etcd answers."""
        deadline = time.monotonic() + timeout
        with grpc.secure_channel(self.endpoint, self.credentials()) as channel:
            stub = rpc_pb2_grpc.MaintenanceStub(channel)
            while True:
                try:
                    stub.Status(rpc_pb2.StatusRequest(), timeout=1.0)
                    return
                except grpc.RpcError:
                    if not self.alive() or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"server at {self.client_url} not serving TLS after {timeout}s\n"
                            f"--- etcd log ---\n{self.log_tail()}"
                        ) from None
                    time.sleep(0.05)


class TlsRefProcess(TlsEtcdProcess, RefProcess):
    """server_ref on the command line with the same TLS flags as ``TlsEtcdProcess``."""


def auth_server(kind: str, data_dir: Path, certs: Certs | None = None) -> EtcdProcess:
    """A started ``kind`` ("etcd" or "server_ref") server with AUTH_FLAGS; https with
    client certificates when ``certs`` are given."""
    proc: EtcdProcess
    if certs is None:
        plain = EtcdProcess if kind == "etcd" else RefProcess
        proc = plain(data_dir, extra_args=["--unsafe-no-fsync", *AUTH_FLAGS])
    else:
        tls = TlsEtcdProcess if kind == "etcd" else TlsRefProcess
        proc = tls(data_dir, certs, AUTH_FLAGS)
    try:
        proc.start()
    except RuntimeError as err:
        proc.remove()
        found = re.search(r"unrecognized arguments: (.*)", proc.log_tail())
        if found is None:
            raise
        flags = [a for a in found.group(1).split() if a.startswith("--")]
        raise FlagsRejected(flags, str(err)) from None
    except BaseException:
        proc.remove()
        raise
    return proc


class FlagsRejected(RuntimeError):
    """The server refused to start because it does not know ``flags``."""

    def __init__(self, flags: list[str], message: str) -> None:
        super().__init__(message)
        self.flags = flags
