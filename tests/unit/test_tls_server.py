"""server_ref's own TLS conveniences: EmbeddedServer(tls=True), the certificate maker, and
what its credentials hand the servicers (the client certificate's Common Name, which
etcd's auth takes for the user)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from etcd3py import Client, ConnectionFailedError
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer
from etcd3py.server_ref.embed.certs import client_certificate, make_certs
from etcd3py.server_ref.embed.tls import ClientTls


def test_embedded_tls_server_in_one_line() -> None:
    server = EmbeddedServer(tls=True)
    with pytest.raises(RuntimeError, match="made at start"):
        _ = server.tls
    with server:
        assert server.url == f"https://127.0.0.1:{server.port}"
        assert server.tls is not None
        with Client(server.url, **server.tls.client_options) as client:
            client.put("k", "v")
            assert client.get("k").value == b"v"
            assert client.member_list()[0].client_urls == [server.url]
            server.kill()
            server.revive()  # https again, on the same port and certificates
            assert client.get("k").value == b"v"
        anonymous = Client(server.url, ca_cert=server.tls.ca, timeout=0.5)
        with anonymous, pytest.raises(ConnectionFailedError):  # --client-cert-auth
            anonymous.get("k")
        cert, key = server.client_certificate("alice")
        with Client(server.url, ca_cert=server.tls.ca, cert_cert=cert, cert_key=key) as alice:
            assert alice.get("k").value == b"v"
        folder = server.tls.ca.parent
        assert folder.is_dir()
    assert not folder.exists()  # the throw-away certificates go with the server


def test_embedded_server_on_given_certificates(tmp_path: Path) -> None:
    files = make_certs(tmp_path / "certs", hosts=["localhost"])
    with EmbeddedServer(host="localhost", tls=files) as server:
        assert server.tls == files and server.url.startswith("https://localhost:")
        with Client(server.url, **files.client_options) as client:
            assert client.status().version == "3.5.1"
    assert files.ca.exists()  # the caller's files stay


class Recorder(rpc_pb2_grpc.MaintenanceServicer):
    def __init__(self) -> None:
        self.auth_contexts: list[dict[str, list[bytes]]] = []

    async def Status(
        self, request: rpc_pb2.StatusRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> rpc_pb2.StatusResponse:
        self.auth_contexts.append(context.auth_context())
        return rpc_pb2.StatusResponse()


@pytest.mark.parametrize(
    ("require", "common_name"), [(True, [b"alice"]), (False, None)], ids=["cca", "no-cca"]
)
def test_servicers_see_the_client_common_name(
    tmp_path: Path, require: bool, common_name: list[bytes] | None
) -> None:
    # grpc.aio's auth_context() carries x509_common_name when a client certificate was
    # asked for and verified (--client-cert-auth or --trusted-ca-file), and not otherwise
    files = make_certs(tmp_path)
    cert, key = client_certificate(files, "alice")
    ca = str(files.ca) if require else None
    tls = ClientTls(str(files.server_cert), str(files.server_key), ca, client_cert_auth=require)
    recorder = Recorder()

    async def call() -> None:
        server = grpc.aio.server()
        rpc_pb2_grpc.add_MaintenanceServicer_to_server(recorder, server)
        port = server.add_secure_port("127.0.0.1:0", tls.server_credentials())
        await server.start()
        credentials = grpc.ssl_channel_credentials(
            files.ca.read_bytes(), key.read_bytes(), cert.read_bytes()
        )
        try:
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
                await rpc_pb2_grpc.MaintenanceStub(channel).Status(
                    rpc_pb2.StatusRequest(), timeout=5
                )
        finally:
            await server.stop(None)

    asyncio.run(call())
    (seen,) = recorder.auth_contexts
    assert seen.get("x509_common_name") == common_name
    assert seen["transport_security_type"] == [b"ssl"]


def test_without_the_tls_extra_the_error_names_it() -> None:
    script = (
        "import sys; sys.modules['cryptography'] = None\n"  # as if it were not installed
        "from etcd3py.server_ref import EmbeddedServer\n"
        "from etcd3py.server_ref.embed.certs import MissingTlsExtraError\n"
        "with EmbeddedServer() as server: pass\n"  # plain servers need no extra
        "try:\n"
        "    EmbeddedServer(tls=True).start()\n"
        "except MissingTlsExtraError as err:\n"
        "    print(type(err).__mro__[1].__name__, err)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == (
        "ImportError making TLS certificates needs the 'cryptography' package: "
        "pip install 'etcd3py[tls]'"
    )
