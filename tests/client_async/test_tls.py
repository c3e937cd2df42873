"""TLS: the client against a member that serves https only and wants client certificates.

Both backends, the same assertions: real etcd 3.5.1 and server_ref's CLI, each started
with ``--cert-file --key-file --trusted-ca-file --client-cert-auth`` on the same
certificates, made for the module by tests/support/certs.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from etcd3py import AsyncClient, ConnectionFailedError, EventType
from tests.conftest import BACKENDS
from tests.support.auth_servers import ServesTls, tls_process
from tests.support.certs import Certs, make_certs

pytestmark = pytest.mark.anyio

FAIL_FAST = 0.5  # seconds: the deadline of the calls that must fail


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


@pytest.fixture(scope="module", params=BACKENDS)
def tls_server(
    request: pytest.FixtureRequest, certs: Certs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServesTls]:
    root = tmp_path_factory.mktemp(f"tls-{request.param}")
    proc = tls_process(request.param, root / "data", certs)
    proc.start()
    try:
        yield proc
    finally:
        proc.remove()


def client_tls(certs: Certs) -> dict[str, Any]:
    """The client options of a client the server trusts, trusting the server."""
    return {"ca_cert": certs.ca, "cert_cert": certs.client_cert, "cert_key": certs.client_key}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # both in the server's SAN
async def test_put_get_watch_over_https(tls_server: ServesTls, prefix: bytes, host: str) -> None:
    url = f"https://{host}:{tls_server.client_port}"
    async with AsyncClient(url, **client_tls(tls_server.certs)) as client:
        async with client.watch(prefix, prefix=True) as watch:
            put = await client.put(prefix + b"k", "v")
            got = await client.get(prefix + b"k")
            assert got.value == b"v" and got.kvs[0].mod_revision == put.header.revision
            (event,) = await watch.events(timeout=10)
            assert (event.type, event.key, event.value) == (EventType.PUT, prefix + b"k", b"v")
            assert event.revision == put.header.revision
        assert (await client.delete(prefix, prefix=True)).deleted == 1


async def test_host_port_with_ca_cert_uses_tls(tls_server: ServesTls, prefix: bytes) -> None:
    # no scheme: the TLS options alone choose https (the server answers nothing else)
    async with AsyncClient(tls_server.endpoint, **client_tls(tls_server.certs)) as client:
        assert client.config.endpoints[0].secure
        await client.put(prefix + b"k", "v")
        assert (await client.get(prefix + b"k")).value == b"v"
        assert (await client.status()).version == "3.5.1"
        (member,) = await client.member_list()
        assert member.client_urls == [tls_server.client_url]


async def test_no_client_certificate_is_refused(tls_server: ServesTls, prefix: bytes) -> None:
    # --client-cert-auth: the member refuses the TLS handshake, so gRPC never gets a
    # connection up and reports "failed to connect to all addresses": the request never
    # left the client, which etcd3py raises as ConnectionFailedError (an UnavailableError)
    # once the deadline passed -- for a read and for a write alike. (etcd speaks TLS 1.2
    # and the client reads its "bad certificate" alert; server_ref's gRPC speaks TLS 1.3,
    # where the client sees the socket closed after its half of the handshake.)
    url = f"https://{tls_server.endpoint}"
    async with AsyncClient(url, ca_cert=tls_server.certs.ca, timeout=FAIL_FAST) as client:
        await never_connects(client.get, prefix + b"k")
        await never_connects(client.put, prefix + b"k", "v")


async def test_client_certificate_of_another_ca_is_refused(
    tls_server: ServesTls, certs: Certs, tmp_path: Path, prefix: bytes
) -> None:
    stranger = make_certs(tmp_path / "stranger")  # a CA the member does not trust
    options = {**client_tls(stranger), "ca_cert": certs.ca}
    async with AsyncClient(tls_server.endpoint, timeout=FAIL_FAST, **options) as client:
        await never_connects(client.get, prefix + b"k")


async def test_wrong_ca_is_refused(tls_server: ServesTls, prefix: bytes) -> None:
    # the client cannot verify the server's certificate: same path, and the client says why
    options = {**client_tls(tls_server.certs), "ca_cert": tls_server.certs.other_ca}
    async with AsyncClient(tls_server.endpoint, timeout=FAIL_FAST, **options) as client:
        error = await never_connects(client.get, prefix + b"k")
        assert "handshake" in str(error).lower()
        assert "CERTIFICATE_VERIFY_FAILED" in str(error)


async def test_plaintext_client_is_refused(tls_server: ServesTls, prefix: bytes) -> None:
    async with AsyncClient(f"http://{tls_server.endpoint}", timeout=FAIL_FAST) as client:
        await never_connects(client.get, prefix + b"k")


async def never_connects(call: Callable[..., Awaitable[Any]], *args: Any) -> ConnectionFailedError:
    """``call(*args)`` must raise exactly ConnectionFailedError: no connection came up."""
    with pytest.raises(ConnectionFailedError) as info:
        await call(*args)
    error = info.value
    assert type(error) is ConnectionFailedError
    assert isinstance(error.__cause__, grpc.RpcError)
    assert error.__cause__.code() == grpc.StatusCode.UNAVAILABLE
    assert "failed to connect to all addresses" in str(error)
    return error
