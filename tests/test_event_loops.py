"""An AsyncClient belongs to the event loop it was first used on; the sync Client to none."""

from __future__ import annotations

import asyncio
import threading

import pytest

from etcd3py import AsyncClient, Client, EventLoopError
from tests.support.backends import Backend


def test_an_async_client_reused_by_a_second_asyncio_run_says_so(backend: Backend) -> None:
    client = AsyncClient(backend.endpoint)

    async def read() -> bytes | None:
        return (await client.get("missing")).value

    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(read()) is None
        with pytest.raises(EventLoopError, match="another event loop") as info:
            asyncio.run(read())  # a second loop: gRPC's aio channels cannot follow
        assert isinstance(info.value, RuntimeError)
        with pytest.raises(EventLoopError):
            asyncio.run(_watch(client))
        asyncio.run(client.close())  # closing from another loop is allowed
    finally:
        # and closing on its own loop closes the channels: none is left to hand gRPC's
        # late completions to a closed loop (they would fail in a later test's loop)
        first.run_until_complete(client.close())
        first.close()


async def _watch(client: AsyncClient) -> None:
    client.watch("k")


def test_the_sync_client_serves_any_thread(backend: Backend) -> None:
    with Client(backend.endpoint) as client:
        found: list[object] = []
        thread = threading.Thread(target=lambda: found.append(client.get("missing").value))
        thread.start()
        thread.join(10)
        assert found == [None]
        assert client.get("missing").value is None
