"""Dedicated real etcd members for the TLS and auth tests (server_ref has neither yet).

``TlsEtcdProcess`` serves clients over https only and asks them for a certificate signed
by the test CA (``--client-cert-auth``); peers stay on http. Its readiness check speaks
TLS, as the plain ``wait_until_serving`` of ``EtcdProcess`` cannot.

``TcpProxy`` forwards a loopback port to a member; ``cut()`` drops every connection
through it (both ends see a closed socket), so that the client must open its streams
again while the member keeps running.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
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
    def __init__(self, data_dir: Path, certs: Certs) -> None:
        super().__init__(
            data_dir,
            extra_args=[
                "--unsafe-no-fsync",
                "--cert-file", str(certs.server_cert),
                "--key-file", str(certs.server_key),
                "--trusted-ca-file", str(certs.ca),
                "--client-cert-auth",
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
                            f"etcd at {self.client_url} not serving TLS after {timeout}s\n"
                            f"--- etcd log ---\n{self.log_tail()}"
                        ) from None
                    time.sleep(0.05)


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>``, byte for byte."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # lets the accept loop notice close()
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._acceptor.join(5)
        self._listener.close()
        self.cut()

    def cut(self) -> None:
        """Close every connection open through the proxy; new ones are accepted."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            _close(sock)
        with self._lock:
            self._open.difference_update((src, dst))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
