"""TLS: the client against a real etcd that serves https only and wants client certificates.

Real etcd 3.5.1 only: server_ref speaks neither TLS nor auth yet. The member is a
dedicated one (``--cert-file --key-file --trusted-ca-file --client-cert-auth``) with
certificates made for the module by tests/support/certs.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from etcd3py import AsyncClient, ConnectionFailedError, EventType
from tests.support.auth_servers import TlsEtcdProcess
from tests.support.certs import Certs, make_certs

pytestmark = pytest.mark.anyio

FAIL_FAST = 0.5  # seconds: the deadline of the calls that must fail


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEtcdProcess]:
    root = tmp_path_factory.mktemp("tls-etcd")
    proc = TlsEtcdProcess(root / "data", make_certs(root / "certs"))
    proc.start()
    try:
        yield proc
    finally:
        proc.remove()


def client_tls(certs: Certs) -> dict[str, Any]:
    """The client options of a client the server trusts, trusting the server."""
    return {"ca_cert": certs.ca, "cert_cert": certs.client_cert, "cert_key": certs.client_key}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # both in the server's SAN
async def test_put_get_watch_over_https(tls_etcd: TlsEtcdProcess, prefix: bytes, host: str) -> None:
    url = f"https://{host}:{tls_etcd.client_port}"
    async with AsyncClient(url, **client_tls(tls_etcd.certs)) as client:
        async with client.watch(prefix, prefix=True) as watch:
            put = await client.put(prefix + b"k", "v")
            got = await client.get(prefix + b"k")
            assert got.value == b"v" and got.kvs[0].mod_revision == put.header.revision
            (event,) = await watch.events(timeout=10)
            assert (event.type, event.key, event.value) == (EventType.PUT, prefix + b"k", b"v")
            assert event.revision == put.header.revision
        assert (await client.delete(prefix, prefix=True)).deleted == 1


async def test_host_port_with_ca_cert_uses_tls(tls_etcd: TlsEtcdProcess, prefix: bytes) -> None:
    # no scheme: the TLS options alone choose https (the server answers nothing else)
    async with AsyncClient(tls_etcd.endpoint, **client_tls(tls_etcd.certs)) as client:
        assert client.config.endpoints[0].secure
        await client.put(prefix + b"k", "v")
        assert (await client.get(prefix + b"k")).value == b"v"
        assert (await client.status()).version == "3.5.1"


async def test_no_client_certificate_is_refused(tls_etcd: TlsEtcdProcess, prefix: bytes) -> None:
    # --client-cert-auth: etcd aborts the TLS handshake (a "bad certificate" alert), so
    # gRPC never gets a connection up and reports "failed to connect to all addresses":
    # the request never left the client, which etcd3py raises as ConnectionFailedError
    # (an UnavailableError) once the deadline passed -- for a read and for a write alike.
    url = f"https://{tls_etcd.endpoint}"
    async with AsyncClient(url, ca_cert=tls_etcd.certs.ca, timeout=FAIL_FAST) as client:
        await handshake_fails(client.get, prefix + b"k")
        await handshake_fails(client.put, prefix + b"k", "v")


async def test_wrong_ca_is_refused(tls_etcd: TlsEtcdProcess, prefix: bytes) -> None:
    # the client cannot verify the server's certificate: same path, same error
    options = {**client_tls(tls_etcd.certs), "ca_cert": tls_etcd.certs.other_ca}
    async with AsyncClient(tls_etcd.endpoint, timeout=FAIL_FAST, **options) as client:
        error = await handshake_fails(client.get, prefix + b"k")
        assert "CERTIFICATE_VERIFY_FAILED" in str(error)


async def test_plaintext_client_is_refused(tls_etcd: TlsEtcdProcess, prefix: bytes) -> None:
    async with AsyncClient(f"http://{tls_etcd.endpoint}", timeout=FAIL_FAST) as client:
        with pytest.raises(ConnectionFailedError) as info:
            await client.get(prefix + b"k")
        assert type(info.value) is ConnectionFailedError


async def handshake_fails(call: Callable[..., Awaitable[Any]], *args: Any) -> ConnectionFailedError:
    """``call(*args)`` must raise exactly ConnectionFailedError, caused by a failed handshake."""
    with pytest.raises(ConnectionFailedError) as info:
        await call(*args)
    error = info.value
    assert type(error) is ConnectionFailedError
    assert isinstance(error.__cause__, grpc.RpcError)
    assert error.__cause__.code() == grpc.StatusCode.UNAVAILABLE
    assert "handshake" in str(error).lower()
    return error
