"""Dedicated real etcd members for the TLS and auth tests (server_ref has neither yet).

``TlsEtcdProcess`` serves clients over https only and asks them for a certificate signed
by the test CA (``--client-cert-auth``); peers stay on http. Its readiness check speaks
TLS, as the plain ``wait_until_serving`` of ``EtcdProcess`` cannot.

``TcpProxy`` forwards a loopback port to a member; ``cut()`` drops every connection
through it (both ends see a closed socket), so that the client must open its streams
again while the member keeps running.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from tests.support.certs import Certs
from tests.support.servers import START_TIMEOUT, EtcdProcess

# simple tokens expire after this many seconds without use (etcd checks every second)
AUTH_TOKEN_TTL = 2


def auth_etcd(data_dir: Path) -> EtcdProcess:
    """A member whose simple auth tokens expire after AUTH_TOKEN_TTL idle seconds."""
    args = ["--unsafe-no-fsync", "--auth-token", "simple", "--auth-token-ttl", str(AUTH_TOKEN_TTL)]
    return EtcdProcess(data_dir, extra_args=args)


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
