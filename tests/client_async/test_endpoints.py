"""Endpoint forms that reach a real server: unix sockets and host names."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etcd3py import AsyncClient
from tests.conftest import BACKENDS
from tests.support.backends import Backend
from tests.support.servers import EtcdProcess, free_port, wait_until_serving

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=BACKENDS)
def unix_endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("unix")
    if request.param == "etcd":
        # etcd wants host:port even here; the socket file is named after it
        proc = EtcdProcess(root / "data", client_url=f"unix://localhost:{free_port()}")
        proc.start()
        try:
            yield proc.endpoint
        finally:
            proc.remove()
        return
    endpoint = f"unix://{root / 'ref.sock'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "etcd3py.server_ref", "--listen-client-urls", endpoint],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(endpoint, 30, lambda: server.poll() is None)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


async def test_unix_socket(unix_endpoint: str, prefix: bytes) -> None:
    assert Path(unix_endpoint[len("unix://") :]).is_socket()
    async with AsyncClient(unix_endpoint) as client:
        await client.put(prefix + b"k", "over a socket")
        assert (await client.get(prefix + b"k")).value == b"over a socket"
        async with client.watch(prefix + b"k") as watch:
            await client.delete(prefix + b"k")
            assert len(await watch.events(timeout=10)) == 1


async def test_host_name(backend: Backend, prefix: bytes) -> None:
    port = backend.endpoint.rsplit(":", 1)[1]
    async with AsyncClient(f"http://localhost:{port}") as client:
        await client.put(prefix + b"k", "by name")
        assert (await client.get(prefix + b"k")).value == b"by name"


async def test_grpc_keepalive_settings(backend: Backend, prefix: bytes) -> None:
    # etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time)
    async with AsyncClient(backend.endpoint, keepalive_time=6, keepalive_timeout=3) as client:
        await client.put(prefix + b"k", "v")
        async with client.watch(prefix + b"k") as watch:
            await client.delete(prefix + b"k")
            assert len(await watch.events(timeout=10)) == 1
